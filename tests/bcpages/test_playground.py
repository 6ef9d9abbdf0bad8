"""The playground page (bcpages/demo/playground.py) without a browser: its actions'
arguments, its teaching codeunits, and the BCPAGES["PLAYGROUND"] access setting,
through tasks.testing.TestPage, the websocket and the views."""

import json

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from bcpages.demo import codeunits as cu
from bcpages.demo.playground import Playground
from bcpages.frames import FrameError
from tasks.errors import UnknownCodeunit
from tasks.testing import TaskFailed, TestPage
from tests.websocket import connect_page, receive_until, send

pytestmark = [pytest.mark.django_db(transaction=True)]

OFF = override_settings(BCPAGES={"PLAYGROUND": "off"})
STAFF = override_settings(BCPAGES={"PLAYGROUND": "staff"})


def report(page):
    """The events of the page's report field (what page code did, for the script)."""
    return json.loads(page.fields["report"] or "[]")


def last_event(page):
    return report(page)[-1]


def errors(page):
    return [text for level, text in page.notifications if level == "error"]


# Opening ----------------------------------------------------------------------


def test_opens_on_the_first_customer_or_the_one_asked_for(customers):
    assert TestPage.open("playground").record == "10000"
    page = TestPage.open("playground", "20000")
    assert page.record == "20000"
    assert page.fields["customer_name"] == "Trey Research"
    assert page.tasks == []  # the playground enqueues only what the user asks for


def test_the_form_lists_every_enabled_codeunit_with_its_description(customers, monkeypatch):
    from tasks.codeunits import registered_codeunits

    choices = {choice["id"]: choice for choice in Playground.codeunit_choices()}
    assert set(choices) == {unit.id for unit in registered_codeunits()}
    # The teaching codeunits come first, after PBT Wait, each with a one-line description.
    assert list(choices)[:8] == [cu.PBT_WAIT, *range(50130, 50137)]
    for codeunit_id in range(50130, 50137):
        assert choices[codeunit_id]["description"] and "\n" not in choices[codeunit_id]["description"]
    assert choices[cu.PBT_WAIT]["parameters"] == {"Wait": "3000"}

    def check_enabled(unit):
        if unit.id == cu.PLAYGROUND_KILL_OWN_PROCESS:
            raise UnknownCodeunit("disabled")
        return unit

    monkeypatch.setattr("bcpages.demo.playground.check_enabled", check_enabled)
    assert cu.PLAYGROUND_KILL_OWN_PROCESS not in {choice["id"] for choice in Playground.codeunit_choices()}


# The enqueue action -----------------------------------------------------------------


def test_enqueue_goes_through_enqueue_background_task_with_the_current_customer(customers):  # S5, S6
    page = TestPage.open("playground", "20000")
    page.action("enqueue", codeunit=cu.PBT_WAIT, parameters={"Wait": "10"}, timeout=5000, error_level="warning", count=3)
    assert [t.task_id for t in page.tasks] == [1, 2, 3]
    assert all(t.record == "20000" and t.codeunit == cu.PBT_WAIT for t in page.tasks)
    task = page.session.queue.tasks[1]
    assert task.parameters == {"Wait": "10", "CustomerNo": "20000"}
    assert (task.timeout_ms, task.error_level) == (5000, "warning")
    event = last_event(page)
    assert (event["event"], event["task_ids"], event["refused"]) == ("enqueued", [1, 2, 3], None)
    assert page.fields["last_call"].startswith("enqueue_background_task(50100, {'Wait': '10', 'CustomerNo': '20000'}")
    page.run_tasks()
    assert {t.state for t in page.tasks} == {"completed"}


def test_the_form_may_name_the_customer_itself(customers):  # S6
    page = TestPage.open("playground", "10000")
    page.action("enqueue", codeunit=cu.PLAYGROUND_ECHO_CUSTOMER, parameters={"CustomerNo": "30000"})
    page.run_tasks()
    assert last_event(page)["results"] == {"CustomerNo": "30000", "Name": "School of Fine Art"}


@pytest.mark.parametrize(
    "args, code",
    [
        ({"codeunit": 12345}, "UnknownCodeunit"),
        ({"codeunit": "50100"}, "InvalidActionArguments"),
        ({"codeunit": True}, "InvalidActionArguments"),
        ({"codeunit": cu.PBT_WAIT, "parameters": {"Wait": 3000}}, "InvalidTaskParameters"),
        ({"codeunit": cu.PBT_WAIT, "parameters": ["Wait", "3000"]}, "InvalidTaskParameters"),
        ({"codeunit": cu.PBT_WAIT, "timeout": -1}, "InvalidTaskTimeout"),
        ({"codeunit": cu.PBT_WAIT, "timeout": 0}, "InvalidTaskTimeout"),
        ({"codeunit": cu.PBT_WAIT, "timeout": 1.5}, "InvalidTaskTimeout"),
        ({"codeunit": cu.PBT_WAIT, "timeout": "1000"}, "InvalidTaskTimeout"),
        ({"codeunit": cu.PBT_WAIT, "error_level": "loud"}, "InvalidErrorLevel"),
        ({"codeunit": cu.PBT_WAIT, "count": 0}, "InvalidActionArguments"),
        ({"codeunit": cu.PBT_WAIT, "count": "12"}, "InvalidActionArguments"),
        ({"codeunit": cu.PBT_WAIT, "handled": "yes"}, "InvalidActionArguments"),
    ],
)
def test_invalid_arguments_enqueue_nothing_and_a_notification_names_the_code(customers, args, code):  # S6, S7
    page = TestPage.open("playground", "10000")
    page.action("enqueue", **args)
    assert page.tasks == []
    assert len(errors(page)) == 1 and errors(page)[0].startswith(f"{code}: ")
    event = last_event(page)
    assert (event.get("refused") or event)["code"] == code


def test_an_argument_the_action_does_not_take_is_an_error_frame(customers):
    page = TestPage.open("playground", "10000")
    with pytest.raises(FrameError) as raised:
        page.action("enqueue", codeunit=cu.PBT_WAIT, copies=2)
    assert raised.value.code == "InvalidActionArguments"


def test_106_copies_enqueue_105_and_the_106th_fails_with_max_queue_length(customers):  # S7, S12
    page = TestPage.open("playground", "10000")
    page.action("enqueue", codeunit=cu.PBT_WAIT, parameters={"Wait": "10"}, count=106)
    states = [t.state for t in page.tasks]
    assert (states.count("running"), states.count("queued"), len(states)) == (5, 100, 105)
    [text] = errors(page)
    assert text.startswith("ChildSessionsMaxQueueLength: copy 106 of 106 was refused; the 105 copies before it are enqueued (tasks 1-105).")
    event = last_event(page)
    assert event["task_ids"][-1] == 105 and event["refused"]["copy"] == 106
    assert event["refused"]["code"] == "ChildSessionsMaxQueueLength"
    page.navigate(step="next")  # S14: and every one of them is cancelled
    assert {t.state for t in page.tasks} == {"cancelled"}


def test_a_count_far_above_the_limit_stops_at_the_first_refusal(customers):  # S12
    page = TestPage.open("playground", "10000")
    page.action("enqueue", codeunit=cu.PBT_WAIT, count=10**9)
    assert len(page.tasks) == 105
    assert "copy 106 of 1000000000 was refused" in errors(page)[0]


# Cancel and the error trigger ---------------------------------------------------------


def test_cancel_reports_true_then_false(customers):  # S8
    page = TestPage.open("playground", "10000")
    page.action("enqueue", codeunit=cu.PBT_WAIT, count=6)
    page.action("cancel", task_id=6)
    assert (last_event(page)["event"], last_event(page)["returned"]) == ("cancel", True)
    assert page.fields["last_call"] == "cancel_background_task(6) returned True"
    assert page.task(6).state == "cancelled"
    page.action("cancel", task_id=6)
    assert last_event(page)["returned"] is False
    page.action("cancel", task_id=99)
    assert last_event(page)["returned"] is False
    assert [e["seq"] for e in report(page)] == sorted({e["seq"] for e in report(page)})


@pytest.mark.parametrize("task_id", ["6", True, 6.0, None])
def test_cancel_of_something_that_is_not_a_task_id_is_refused_by_name(customers, task_id):  # S8
    page = TestPage.open("playground", "10000")
    page.action("enqueue", codeunit=cu.PBT_WAIT, count=6)
    page.action("cancel", task_id=task_id)
    assert errors(page) == [f"InvalidActionArguments: task_id must be a task id (a whole number), not {task_id!r}."]
    assert page.task(6).state == "queued"  # nothing was cancelled


@pytest.mark.parametrize(
    "error_level, handled, shown",
    [("error", False, [("error", "Customer 10000 is blocked for all transactions.")]),
     ("warning", False, [("warning", "Customer 10000 is blocked for all transactions.")]),
     ("ignore", False, []),
     ("error", True, [])],
)
def test_error_level_and_handled_decide_what_is_shown(customers, error_level, handled, shown):  # S23, S26, S27
    page = TestPage.open("playground", "10000")
    page.action("enqueue", codeunit=cu.PLAYGROUND_CUSTOMER_BLOCKED, error_level=error_level, handled=handled)
    page.run_tasks()
    assert (page.task(1).state, page.task(1).code) == ("failed", "CustomerBlocked")
    assert page.notifications == shown
    assert last_event(page) | {"seq": 0} == {"seq": 0, "event": "failed", "task_id": 1, "record": "10000", "handled": handled}


def test_navigation_cancels_the_echo_so_its_result_never_reaches_the_next_customer(customers):  # S14, S17
    page = TestPage.open("playground", "10000")
    page.action("enqueue", codeunit=cu.PLAYGROUND_ECHO_CUSTOMER, parameters={"Wait": "0"})
    page.navigate(step="next")
    page.run_tasks()
    assert page.task(1).state == "cancelled"
    assert not any(e["event"] == "completed" for e in report(page))


# The teaching codeunits, each as a child session runs it -----------------------------


def test_busy_loop_and_long_query_complete_with_text_results(customers):  # S21
    page = TestPage.open("playground", "10000")
    assert int(page.run_page_background_task(cu.PLAYGROUND_BUSY_LOOP, {"Duration": "20"})["rounds"].replace(",", "")) > 0
    assert page.run_page_background_task(cu.PLAYGROUND_LONG_QUERY, {"Count": "1000"}) == {"count": "1,000"}


def test_busy_loop_is_stopped_by_its_timeout(customers):  # S11, S16
    page = TestPage.open("playground", "10000")
    with pytest.raises(TaskFailed) as failed:
        page.run_page_background_task(cu.PLAYGROUND_BUSY_LOOP, {"Duration": "60000"}, timeout=300)
    assert (failed.value.error.code, failed.value.error.text) == (
        "ChildSessionTaskTimeout", "Child Session task was terminated because of a timeout.")


def test_the_coded_error_fails_with_its_code(customers):  # S23
    page = TestPage.open("playground", "10000")
    with pytest.raises(TaskFailed) as failed:
        page.run_page_background_task(cu.PLAYGROUND_CUSTOMER_BLOCKED, {"CustomerNo": "10000"})
    assert failed.value.error.code == "CustomerBlocked"
    assert "customer_blocked" in failed.value.error.call_stack


def test_renaming_the_customer_fails_read_only_and_changes_nothing(customers):  # S18
    from bcpages.demo.models import Customer

    page = TestPage.open("playground", "10000")
    with pytest.raises(TaskFailed) as failed:
        page.run_page_background_task(cu.PLAYGROUND_RENAME_CUSTOMER, {"CustomerNo": "10000"})
    assert failed.value.error.code == "ChildSessionReadOnly"
    assert "demo_customer" in failed.value.error.text
    assert Customer.objects.get(no="10000").name == "Adatum Corporation"


def test_a_number_in_the_result_fails_with_invalid_task_result(customers):  # S6
    page = TestPage.open("playground", "10000")
    with pytest.raises(TaskFailed) as failed:
        page.run_page_background_task(cu.PLAYGROUND_NON_STRING_RESULT)
    assert failed.value.error.code == "InvalidTaskResult"


def test_killing_its_own_process_fails_with_crashed(customers):  # S24
    page = TestPage.open("playground", "10000")
    with pytest.raises(TaskFailed) as failed:
        page.run_page_background_task(cu.PLAYGROUND_KILL_OWN_PROCESS)
    assert failed.value.error.code == "ChildSessionCrashed"
    # The next task runs as usual.
    assert page.run_page_background_task(cu.PLAYGROUND_ECHO_CUSTOMER, {"CustomerNo": "20000"})["Name"] == "Trey Research"


# Access: BCPAGES["PLAYGROUND"] ------------------------------------------------------------


@pytest.fixture
def staff(db):
    from django.contrib.auth.models import User

    return User.objects.create_user("ada", password="x", is_staff=True)


@OFF
def test_off_refuses_to_open_the_page(customers):
    with pytest.raises(FrameError) as raised:
        TestPage.open("playground", "10000")
    assert raised.value.code == "PageNotAllowed"


@STAFF
def test_staff_only_refuses_anonymous_and_admits_staff(customers, staff):
    from django.contrib.auth.models import AnonymousUser

    for user in (None, AnonymousUser()):
        with pytest.raises(FrameError) as raised:
            TestPage.open("playground", "10000", user=user)
        assert raised.value.code == "PageNotAllowed" and "staff" in raised.value.text
    assert TestPage.open("playground", "10000", user=staff).record == "10000"


def test_other_pages_are_open_to_everyone_whatever_the_setting(customers):
    with OFF:
        assert TestPage.open("customer-card", "10000").record == "10000"


def test_the_view_serves_the_playground_with_its_codeunits(client, customers):
    response = client.get("/playground/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-page="playground"' in html and 'data-record="10000"' in html
    assert "50135 Kill Own Process" in html and "playground.js" in html
    assert 'data-record="20000"' in client.get("/playground/20000/").content.decode()
    assert client.get("/playground/99999/").status_code == 404


@OFF
def test_off_is_a_404_for_the_views_and_the_json_api(client, customers):
    assert client.get("/playground/").status_code == 404
    assert client.get("/playground/10000/").status_code == 404
    response = client.get("/api/pages/playground/10000/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "PageNotAllowed"


@STAFF
def test_staff_only_sends_others_to_the_admin_login(client, customers, staff):
    response = client.get("/playground/20000/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/playground/20000/"
    assert client.get("/api/pages/playground/10000/").status_code == 403
    client.force_login(staff)
    assert client.get("/playground/20000/").status_code == 200


# Through the websocket ---------------------------------------------------------------


async def connect(cookie=None):
    return await connect_page(*([(b"cookie", cookie.encode())] if cookie else []))


async def open_playground(record="10000", cookie=None):
    communicator = await connect(cookie)
    await send(communicator, type="page.open", page="playground", record=record)
    await receive_until(communicator, lambda f: f["type"] == "page.state")
    return communicator


async def test_the_enqueue_frame_of_the_docs_times_out_as_a_warning(customers, embedded_worker):  # S9, S11, S27
    communicator = await open_playground()
    await send(communicator, type="page.action", action="enqueue", args={
        "codeunit": 50100, "parameters": {"Wait": "3000"}, "timeout": 1000, "error_level": "warning",
        "count": 1, "handled": False,
    })
    frames = await receive_until(communicator, lambda f: f["type"] == "notification", timeout=15)
    failed = next(f for f in frames if f["type"] == "task.state" and f["state"] == "failed")
    assert (failed["code"], failed["text"]) == ("ChildSessionTaskTimeout", "Child Session task was terminated because of a timeout.")
    assert frames[-1] == {"type": "notification", "level": "warning", "text": failed["text"], "task_id": 1}
    await communicator.disconnect()


async def test_the_cancel_frame_of_the_docs_reports_what_cancel_returned(customers, embedded_worker):  # S8
    communicator = await open_playground()
    await send(communicator, type="page.action", action="enqueue", args={"codeunit": 50100, "count": 7})
    await receive_until(communicator, lambda f: f["type"] == "field.update" and "report" in f["fields"])
    for expected in (True, False):
        await send(communicator, type="page.action", action="cancel", args={"task_id": 7})
        frames = await receive_until(communicator, lambda f: f["type"] == "field.update" and "report" in f["fields"])
        event = json.loads(frames[-1]["fields"]["report"])[-1]
        assert (event["event"], event["task_id"], event["returned"]) == ("cancel", 7, expected)
    await communicator.disconnect()


@pytest.mark.parametrize(
    "args, code",
    [
        ({"codeunit": 4711}, "UnknownCodeunit"),
        ({"codeunit": 50100, "parameters": {"Wait": 3000}}, "InvalidTaskParameters"),
        ({"codeunit": 50100, "timeout": -5}, "InvalidTaskTimeout"),
        ({"codeunit": 50100, "count": 106}, "ChildSessionsMaxQueueLength"),
    ],
)
async def test_invalid_arguments_through_the_websocket_never_break_the_connection(customers, embedded_worker, args, code):  # S7
    communicator = await open_playground()
    await send(communicator, type="page.action", action="enqueue", args=args)
    frames = await receive_until(communicator, lambda f: f["type"] == "notification")
    assert frames[-1]["level"] == "error" and frames[-1]["text"].startswith(f"{code}: ")
    # The connection still serves the page.
    await send(communicator, type="page.action", action="cancel", args={"task_id": 1})
    await receive_until(communicator, lambda f: f["type"] == "field.update")
    await communicator.disconnect()


@pytest.mark.parametrize(
    "frame, code",
    [
        ({"action": "enqueue", "args": {"codeunit": 50100, "copies": 2}}, "InvalidActionArguments"),
        ({"action": "enqueue", "args": {}}, "InvalidActionArguments"),
        ({"action": "cancel", "args": []}, "InvalidFrame"),
        ({"action": "explode"}, "UnknownAction"),
    ],
)
async def test_malformed_actions_get_an_error_frame(customers, embedded_worker, frame, code):
    communicator = await open_playground()
    await send(communicator, type="page.action", **frame)
    frames = await receive_until(communicator, lambda f: f["type"] == "error")
    assert frames[-1]["code"] == code
    await communicator.disconnect()


@OFF
async def test_off_refuses_the_websocket_page_with_page_not_allowed(customers, embedded_worker):
    communicator = await connect()
    await send(communicator, type="page.open", page="playground", record="10000")
    frame = json.loads(await communicator.receive_from(5))
    assert (frame["type"], frame["code"]) == ("error", "PageNotAllowed")
    # The connection stays; another page opens.
    await send(communicator, type="page.open", page="customer-card", record="10000")
    await receive_until(communicator, lambda f: f["type"] == "page.state")
    await communicator.disconnect()


@STAFF
async def test_staff_only_refuses_anonymous_websockets_and_admits_staff(customers, staff, embedded_worker):
    communicator = await connect()
    await send(communicator, type="page.open", page="playground", record="10000")
    frame = json.loads(await communicator.receive_from(5))
    assert (frame["type"], frame["code"]) == ("error", "PageNotAllowed")
    await communicator.disconnect()

    def login():
        from django.test import Client

        client = Client()
        client.force_login(staff)
        return f"sessionid={client.cookies['sessionid'].value}"

    communicator = await open_playground(cookie=await database_sync_to_async(login)())
    await communicator.disconnect()
