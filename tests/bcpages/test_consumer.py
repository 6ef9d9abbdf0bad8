"""The parent-session consumer through the real in-memory layer and the real worker."""

import asyncio
import json
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db.models import Count, Max, Q, Sum
from django.test import override_settings

from bcpages.asgi import application
from bcpages.fields import format_value
from tests.websocket import connect_page, receive_until, send

pytestmark = [pytest.mark.django_db(transaction=True)]


async def connect(origin=b"http://127.0.0.1"):
    return await connect_page(origin=(b"origin", origin))


def statistics_from_sql(customer_no, today):
    """What the Customer Statistics FactBox must show, straight from the ledger."""
    from bcpages.demo.models import CustLedgerEntry

    ledger = CustLedgerEntry.objects.filter(customer_id=customer_no)
    year = ledger.filter(posting_date__gte=today.replace(month=1, day=1), posting_date__lte=today)
    return {
        "balance": format_value(ledger.filter(open=True).aggregate(s=Sum("remaining_amount"))["s"] or Decimal(0)),
        "balance_due": format_value(ledger.filter(open=True, due_date__lt=today).aggregate(s=Sum("remaining_amount"))["s"] or Decimal(0)),
        "sales_this_year": format_value(year.filter(document_type="Invoice").aggregate(s=Sum("amount"))["s"] or Decimal(0)),
        "payments_this_year": format_value(-(year.filter(document_type="Payment").aggregate(s=Sum("amount"))["s"] or Decimal(0))),
        "last_payment_date": format_value(ledger.filter(document_type="Payment").aggregate(m=Max("posting_date"))["m"]),
        "open_invoices": str(ledger.aggregate(n=Count("entry_no", filter=Q(open=True, document_type="Invoice")))["n"]),
    }


def all_completed(count):
    """A receive_until predicate: true at the ``count``-th completed task.state."""
    completed = set()
    return lambda f: f["type"] == "task.state" and f["state"] == "completed" and (completed.add(f["task_id"]) or len(completed) == count)


async def test_card_opens_then_tasks_fill_the_fields_with_what_the_ledger_says(customers, embedded_worker):  # S1, S2, S33
    from django.utils import timezone

    from bcpages.demo.pages import CustomerCard

    communicator = await connect()
    await send(communicator, type="page.open", page="customer-card", record="10000")
    # Until the fourth task completed, then whatever was still on its way.
    frames = await receive_until(communicator, all_completed(4))
    frames += await drain(communicator)

    # Each task: queued, running, completed, in that order and once each (S1).
    tasks = {}
    for frame in frames:
        if frame["type"] == "task.state":
            tasks.setdefault(frame["task_id"], []).append(frame["state"])
    assert tasks == {task_id: ["queued", "running", "completed"] for task_id in (1, 2, 3, 4)}, tasks
    # The page shows first; only then does any task end and fill in a field: each
    # field.update follows the completed task.state of the task that fills it (S2, S33).
    kinds = [f["type"] for f in frames]
    state_at = kinds.index("page.state")
    ended_at = min(i for i, f in enumerate(frames) if f["type"] == "task.state" and f["state"] == "completed")
    assert state_at < ended_at < kinds.index("field.update"), kinds
    codeunits_done = set()
    for frame in frames:
        if frame["type"] == "task.state" and frame["state"] == "completed":
            codeunits_done.add(frame["codeunit"])
        elif frame["type"] == "field.update":
            filled_by = {CustomerCard.fields[name].codeunit for name in frame["fields"]}
            assert filled_by <= codeunits_done, (frame, codeunits_done)
    state = frames[kinds.index("page.state")]
    assert state["fields"]["customer_name"] == "Adatum Corporation"
    assert state["field_states"]["start_time"] == "loading"
    assert state["field_states"]["balance"] == "loading"
    assert state["url"] == "/customers/10000/"

    fields = {}
    for frame in frames:
        if frame["type"] == "field.update":
            assert frame["record"] == "10000"
            fields.update(frame["fields"])
    expected = await database_sync_to_async(statistics_from_sql)("10000", timezone.localdate())
    assert {key: fields[key] for key in expected} == expected
    assert fields["duration"] == "1000 ms"
    assert fields["start_time"] and fields["end_time"]
    assert "Start and finish times have been updated." in [f["text"] for f in frames if f["type"] == "notification"]
    await communicator.disconnect()


async def drain(communicator):
    """Frames already on their way (none expected after the last task ended)."""
    frames = []
    while not await communicator.receive_nothing(timeout=0.2):
        frames.append(json.loads(await communicator.receive_from()))
    return frames


async def test_two_quick_navigations_cancel_the_skipped_records_tasks(customers, embedded_worker):  # S14, S17
    communicator = await connect()
    await send(communicator, type="page.open", page="customer-card", record="10000")
    await receive_until(communicator, lambda f: f["type"] == "page.state")
    await send(communicator, type="page.navigate", step="next")
    await send(communicator, type="page.navigate", step="next")
    frames = await receive_until(communicator, lambda f: f["type"] == "page.state" and f["record"] == "30000")
    for record in ("10000", "20000"):
        tasks = {f["task_id"]: f["state"] for f in frames if f["type"] == "task.state" and f["record"] == record}
        assert set(tasks.values()) == {"cancelled"}, (record, tasks)
    # Everything after the last navigation belongs to 30000, until its tasks ended.
    after = await receive_until(communicator, lambda f: f["type"] == "notification", timeout=10)
    after += await drain(communicator)
    updates = [f for f in after if f["type"] == "field.update"]
    assert updates and all(f["record"] == "30000" for f in updates)
    assert not any(f["type"] == "task.state" and f["record"] != "30000" and f["state"] != "cancelled" for f in after)
    await communicator.disconnect()


async def test_first_and_last_jump_to_the_ends_and_first_on_the_first_changes_nothing(customers, embedded_worker):  # S17
    communicator = await connect()
    await send(communicator, type="page.open", page="customer-card", record="20000")
    frames = await receive_until(communicator, all_completed(4))

    for step, record, name in (("last", "30000", "School of Fine Art"), ("first", "10000", "Adatum Corporation")):
        await send(communicator, type="page.navigate", step=step)
        frames += await receive_until(communicator, lambda f: f["type"] == "page.state")
        state = frames[-1]
        assert (state["record"], state["url"], state["fields"]["customer_name"]) == (record, f"/customers/{record}/", name)
        assert state["field_states"]["balance"] == "loading"
        frames += await receive_until(communicator, all_completed(4))

    # Already on the first record, "first" changes nothing: no page.state, no task.
    # The refresh after it is the handshake (frames are handled in order).
    mark = len(frames)
    await send(communicator, type="page.navigate", step="first")
    await send(communicator, type="page.action", action="refresh_statistics")
    frames += await receive_until(communicator, all_completed(3))
    frames += await drain(communicator)
    after = frames[mark:]
    assert not any(f["type"] == "page.state" for f in after), after
    assert {f["codeunit"] for f in after if f["type"] == "task.state"} == {50110, 50111, 50112}
    # Throughout, every field update was for the record the page showed (S17).
    shown = None
    for frame in frames:
        shown = frame["record"] if frame["type"] == "page.state" else shown
        assert frame["type"] != "field.update" or frame["record"] == shown, frame
    await communicator.disconnect()


NO_WORKER = override_settings(BCPAGES={"EMBEDDED_WORKER": False})


async def open_probe_with_one_task(codeunit=99002):
    communicator = await connect()
    await send(communicator, type="page.open", page="test-probe", record="10000")
    await receive_until(communicator, lambda f: f["type"] == "page.state")
    await send(communicator, type="page.action", action="enqueue", args={"codeunit": codeunit})
    async with asyncio.timeout(5):
        run = await get_channel_layer().receive("bcpages.tasks")
    return communicator, run


@NO_WORKER
async def test_disconnect_sends_the_cancel_to_the_worker_running_the_task(customers):  # S15
    from tasks.messages import TaskStarted

    communicator, run = await open_probe_with_one_task()
    layer = get_channel_layer()
    worker_channel = await layer.new_channel()
    await layer.send(run["reply_channel"], TaskStarted(run["session_id"], run["task_id"], worker_channel).message())
    # The parent has processed task.started once a later frame round trip is answered.
    await send(communicator, type="page.refresh")
    await communicator.receive_nothing(timeout=0.1)
    await communicator.disconnect()
    async with asyncio.timeout(5):
        cancel = await layer.receive(worker_channel)
    assert (cancel["type"], cancel["session_id"], cancel["task_id"]) == ("task.cancel", run["session_id"], run["task_id"])


@NO_WORKER
async def test_disconnect_before_any_worker_took_the_task_tells_every_worker(customers):  # S15
    layer = get_channel_layer()
    worker_channel = await layer.new_channel()
    await layer.group_add("bcpages.workers", worker_channel)
    communicator, run = await open_probe_with_one_task()
    await communicator.disconnect()
    async with asyncio.timeout(5):
        cancel = await layer.receive(worker_channel)
    assert (cancel["type"], cancel["task_id"]) == ("task.cancel", run["task_id"])


@pytest.mark.parametrize(
    "text, code",
    [
        ("not json", "InvalidFrame"),
        ("[1, 2]", "InvalidFrame"),
        ('{"type": "page.fly"}', "UnknownFrameType"),
        ("{}", "InvalidFrame"),
        ('{"type": 5}', "InvalidFrame"),
        ('{"type": "page.open", "page": "role-center", "record": "x"}', "UnknownRecord"),
        ('{"type": "page.open", "page": "customer-card"}', "InvalidFrame"),
        ('{"type": "page.open", "page": "customer-card", "record": 10000}', "InvalidFrame"),
        ('{"type": "page.open", "page": "nope", "record": "10000"}', "UnknownPage"),
        ('{"type": "page.open", "page": "customer-card", "record": "99999"}', "UnknownRecord"),
        ('{"type": "page.navigate", "step": "sideways"}', "InvalidFrame"),
        ('{"type": "page.refresh"}', "PageNotOpen"),
    ],
)
async def test_a_frame_the_server_cannot_accept_gets_an_error_frame_and_the_connection_stays(customers, embedded_worker, text, code):
    communicator = await connect()
    await communicator.send_to(text_data=text)
    frame = json.loads(await communicator.receive_from(5))
    assert frame["type"] == "error" and frame["code"] == code and frame["text"]
    await send(communicator, type="page.open", page="customer-card", record="20000")
    frames = await receive_until(communicator, lambda f: f["type"] == "page.state")
    assert frames[-1]["record"] == "20000"
    await communicator.disconnect()


async def test_page_state_comes_before_the_frames_of_the_new_records_tasks(customers, embedded_worker):
    # A client learns the current record before it hears of that record's tasks.
    communicator = await connect()
    await send(communicator, type="page.open", page="customer-card", record="10000")
    opened = await receive_until(communicator, lambda f: f["type"] == "page.state")
    assert [f["type"] for f in opened] == ["page.state"]
    await send(communicator, type="page.navigate", record="20000")
    frames = await receive_until(communicator, lambda f: f["type"] == "page.state")
    # Before page.state: only the old record's tasks, ending cancelled or completed.
    assert all(f["type"] == "task.state" and f["record"] == "10000" for f in frames[:-1]), frames
    after = await receive_until(communicator, all_completed(4))
    new = [f for f in after if f["type"] == "task.state"]
    assert new and {f["record"] for f in new} == {"20000"}
    await communicator.disconnect()


async def test_a_refresh_shows_its_fields_loading_before_their_tasks_run(customers, embedded_worker):  # S33
    communicator = await connect()
    await send(communicator, type="page.open", page="customer-card", record="10000")
    await receive_until(communicator, all_completed(4))
    await send(communicator, type="page.refresh")
    frames = await receive_until(communicator, lambda f: f["type"] == "task.state" and f["task_id"] > 4)
    # The refresh's first frame about a new task comes after the fields went loading.
    loading = [f for f in frames if f["type"] == "field.update" and f["field_states"].get("balance") == "loading"]
    assert len(loading) == 1, frames
    await communicator.disconnect()


async def test_close_before_open_is_an_error_and_the_connection_can_still_open_a_page(customers, embedded_worker):
    communicator = await connect()
    await send(communicator, type="page.close")
    frame = json.loads(await communicator.receive_from(5))
    assert (frame["type"], frame["code"]) == ("error", "PageNotOpen")
    await send(communicator, type="page.open", page="customer-card", record="20000")
    frames = await receive_until(communicator, lambda f: f["type"] == "page.state")
    assert frames[-1]["record"] == "20000"
    await communicator.disconnect()


async def test_after_page_close_every_page_frame_says_the_page_is_closed(customers, embedded_worker):  # S15
    communicator = await connect()
    await send(communicator, type="page.open", page="customer-card", record="10000")
    await receive_until(communicator, lambda f: f["type"] == "page.state")
    await send(communicator, type="page.close")
    for frame in ({"type": "page.open", "page": "customer-card", "record": "20000"}, {"type": "page.refresh"}, {"type": "page.close"}):
        await send(communicator, **frame)
        error = (await receive_until(communicator, lambda f: f["type"] == "error"))[-1]
        assert error["code"] == "PageClosed" and "closed" in error["text"], error
    await communicator.disconnect()


async def test_unknown_record_on_navigate_changes_nothing(customers, embedded_worker):
    communicator = await connect()
    await send(communicator, type="page.open", page="customer-card", record="10000")
    await receive_until(communicator, lambda f: f["type"] == "page.state")
    await send(communicator, type="page.navigate", record="99999")
    frames = await receive_until(communicator, lambda f: f["type"] == "error")
    assert frames[-1]["code"] == "UnknownRecord"
    assert not any(f["type"] == "task.state" and f["state"] == "cancelled" for f in frames)
    await communicator.disconnect()


async def test_a_websocket_to_an_unknown_path_is_refused_not_a_server_error():
    communicator = WebsocketCommunicator(application, "/ws/nothing/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, code = await communicator.connect()
    assert (connected, code) == (False, 4404)


async def test_cross_origin_websocket_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/pages/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


@override_settings(
    BCPAGES={"EMBEDDED_WORKER": False, "LOST_GRACE_MS": 100},
    CHANNEL_LAYERS={"default": {"BACKEND": "tasks.layers.InMemoryChannelLayer", "CONFIG": {"expiry": 60}}},
)
async def test_a_task_whose_worker_never_answers_fails_as_lost(customers):  # S25
    """A worker takes the task, says it started, then is never heard of again."""
    communicator = await connect()
    await send(communicator, type="page.open", page="test-probe", record="10000")
    await receive_until(communicator, lambda f: f["type"] == "page.state")
    await send(communicator, type="page.action", action="enqueue", args={"codeunit": 99000, "timeout": 300})
    layer = get_channel_layer()
    async with asyncio.timeout(5):
        message = await layer.receive("bcpages.tasks")
    from tasks.messages import TaskStarted

    await layer.send(message["reply_channel"], TaskStarted(message["session_id"], message["task_id"], "specific.gone!x").message())
    frames = await receive_until(communicator, lambda f: f["type"] == "task.state" and f["state"] == "failed", timeout=5)
    assert frames[-1]["code"] == "ChildSessionLost"
    assert "within the task's timeout (300 ms)" in frames[-1]["text"]
    await communicator.disconnect()


@override_settings(
    BCPAGES={"EMBEDDED_WORKER": False, "LOST_GRACE_MS": 100},
    # The layer drops an unread message after 1 s: the page's pickup deadline.
    CHANNEL_LAYERS={"default": {"BACKEND": "tasks.layers.InMemoryChannelLayer", "CONFIG": {"expiry": 1}}},
)
@pytest.mark.parametrize("lost", ["no worker listens", "the message is dropped"])
async def test_a_task_no_worker_ever_takes_fails_as_lost(customers, lost):  # S25
    """No ``task.started`` ever comes: the task still ends, failed as lost, and the
    user sees it. (Where its deadline lies: tests/bcpages/test_session.py.)"""
    communicator = await connect()
    await send(communicator, type="page.open", page="test-probe", record="10000")
    await receive_until(communicator, lambda f: f["type"] == "page.state")
    await send(communicator, type="page.action", action="enqueue", args={"codeunit": 99001, "timeout": 300})
    if lost == "the message is dropped":
        async with asyncio.timeout(5):
            await get_channel_layer().receive("bcpages.tasks")
    frames = await receive_until(communicator, lambda f: f["type"] == "task.state" and f["state"] not in ("queued", "running"))
    assert (frames[-1]["task_id"], frames[-1]["state"], frames[-1]["code"]) == (1, "failed", "ChildSessionLost")
    assert frames[-1]["text"] == "No worker picked up the task before the channel layer dropped it."
    # The user is told: the field fails, an error notification says why.
    frames = await receive_until(communicator, lambda f: f["type"] == "field.update")
    assert frames[-1]["field_states"]["echo"] == "failed"
    assert [(f["level"], f["task_id"]) for f in frames if f["type"] == "notification"] == [("error", 1)]
    await communicator.disconnect()


async def test_triggers_never_run_concurrently(customers, embedded_worker):  # S3
    from tests.pages import SerialTriggersPage

    SerialTriggersPage.spans.clear()
    communicator = await connect()
    await send(communicator, type="page.open", page="test-serial-triggers", record="10000")
    # Refreshes race with five completions arriving from the worker at once.
    for _ in range(3):
        await send(communicator, type="page.refresh")
    completed = 0
    async with asyncio.timeout(10):
        while completed < 20:
            frame = json.loads(await communicator.receive_from(10))
            completed += frame["type"] == "task.state" and frame["state"] == "completed"
    spans = sorted(SerialTriggersPage.spans, key=lambda span: span[1])
    assert len([s for s in spans if s[0] == "completed"]) == 20
    for (_, _, end), (_, start, _) in zip(spans, spans[1:]):
        assert end <= start, "two triggers of one page overlapped"
    await communicator.disconnect()


async def test_a_storm_of_navigations_on_two_pages_leaves_the_worker_serving(customers, embedded_worker):  # S14, S16
    """Two tabs click Next and Previous 40 times each as fast as frames go: runs and
    their cancels reach the worker back to back. Every task still ends in one
    outcome and a page opened afterwards gets its figures: no child-session slot
    was lost on the way."""
    tabs = [await connect() for _ in range(2)]
    for tab in tabs:
        await send(tab, type="page.open", page="customer-card", record="10000")
    for step in ("next", "previous") * 20:
        for tab in tabs:
            await send(tab, type="page.navigate", step=step)
    for tab in tabs:
        # The last page.state is for 10000 (20 times next then previous); its four
        # tasks complete: frames are handled in order, so these are the last ones.
        await receive_until(tab, all_completed(4), timeout=30)
        await tab.disconnect()

    fresh = await connect()
    await send(fresh, type="page.open", page="customer-card", record="20000")
    frames = await receive_until(fresh, all_completed(4), timeout=30)
    assert [f["state"] for f in frames if f["type"] == "task.state" and f["state"] in ("completed", "failed")] == ["completed"] * 4
    await fresh.disconnect()
