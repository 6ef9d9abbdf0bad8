"""Bindings: live fields without code. The admin form, then the page through the
test API: the fields appear, fill in, and are cancelled on navigation."""

import pytest

from tasks import catalogue
from tasks.models import CodeunitBinding, CodeunitSetting, TaskLogEntry
from tasks.testing import TestPage
from tests.pages import ProbePage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

ADD_URL = "/admin/tasks/codeunitbinding/add/"


def form_data(**changes):
    data = {
        "page": "test-probe",
        "codeunit": str(catalogue.ECHO_PARAMETERS),
        "caption": "Credit Check",
        "parameters": '{"CustomerNo": "{no}", "City": "in {city}"}',
        "results": "CustomerNo: Customer No.\nCity: City",
        "timeout_ms": "",
        "error_level": "",
        "enabled": "on",
        "notes": "",
    }
    data.update(changes)
    return data


def make_binding(**fields):
    values = {
        "page": "test-probe", "codeunit_id": catalogue.ECHO_PARAMETERS, "caption": "Credit Check",
        "parameters": {"CustomerNo": "{no}"}, "results": "CustomerNo: Customer No.",
    }
    values.update(fields)
    return CodeunitBinding.objects.create(**values)


@pytest.fixture(autouse=True)
def quiet_probe(monkeypatch):
    """The probe page enqueues nothing of its own unless a test says so."""
    monkeypatch.setattr(ProbePage, "plan", [])
    monkeypatch.setattr(ProbePage, "handle_errors", False)


# The admin form ---------------------------------------------------------------------


def test_a_valid_binding_is_saved(admin_client):
    response = admin_client.post(ADD_URL, form_data())
    assert response.status_code == 302, response.context["adminform"].form.errors
    binding = CodeunitBinding.objects.get()
    assert (binding.page, binding.codeunit_id, binding.parameters) == ("test-probe", catalogue.ECHO_PARAMETERS, {"CustomerNo": "{no}", "City": "in {city}"})


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"page": "no-such-page"}, "page", "Select a valid choice. no-such-page is not one of the available choices."),
        ({"codeunit": "12345"}, "codeunit", "Select a valid choice."),
        ({"parameters": '{"CustomerNo": "{number}"}'}, "parameters",
         "Parameter 'CustomerNo' names {number}, but Customer (the record of page 'test-probe') has no field 'number'"),
        ({"parameters": '{"CustomerNo": "{no.__class__}"}'}, "parameters", "is not a plain field placeholder"),
        ({"parameters": '{"CustomerNo": "{no"}'}, "parameters", "is not a valid template"),
        ({"parameters": '{"CustomerNo": 10000}'}, "parameters", "Parameter 'CustomerNo' is 10000, a int; parameters are strings"),
        ({"parameters": '["no"]'}, "parameters", "must be a JSON object of strings"),
        ({"page": "test-no-record", "parameters": '{"CustomerNo": "{no}"}'}, "parameters",
         "Parameter 'CustomerNo' names {no}, but page 'test-no-record' has no record to read it from."),
        ({"results": "CustomerNo"}, "results", "result key 'CustomerNo' has no caption; write it as 'CustomerNo: Caption'."),
        ({"results": "CustomerNo:   "}, "results", "result key 'CustomerNo' has no caption"),
        ({"results": ""}, "results", "This field is required."),
        ({"results": "a b: Caption"}, "results", "the result key 'a b' must be letters, digits"),
        ({"results": "x: One\nx: Two"}, "results", "result key 'x' is given twice"),
        ({"caption": ""}, "caption", "This field is required."),
        ({"timeout_ms": "700000"}, "timeout_ms", "above the server's maximum of 600000 ms"),
    ],
)
def test_an_invalid_binding_is_rejected_with_a_clear_message(admin_client, changes, field, message):
    response = admin_client.post(ADD_URL, form_data(**changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert any(message in error for error in errors[field]), errors[field]
    assert not CodeunitBinding.objects.exists()


def test_a_binding_cannot_name_a_codeunit_missing_from_the_code(admin_client):
    CodeunitSetting.objects.create(id=98768, name="Gone", implementation="gone.codeunits.gone")
    response = admin_client.post(ADD_URL, form_data(codeunit="98768"))
    assert "codeunit" in response.context["adminform"].form.errors


def test_page_choices_are_the_registered_pages(admin_client):
    from bcpages.pages import registered_pages

    form = admin_client.get(ADD_URL).context["adminform"].form
    assert [value for value, _ in form.fields["page"].choices][1:] == sorted(registered_pages())


# The page through the test API ------------------------------------------------------


def test_binding_fields_appear_loading_then_fill_in(customers):  # S33
    binding = make_binding(parameters={"CustomerNo": "{no}", "City": "in {city}"}, results="CustomerNo: Customer No.\nCity: City")
    page = TestPage.open("test-probe", "10000")
    names = [f"binding_{binding.id}_CustomerNo", f"binding_{binding.id}_City"]
    assert [page.field_states[name] for name in names] == ["loading", "loading"]
    fields = page.session.page.fields
    assert (fields[names[0]].caption, fields[names[0]].part, fields[names[0]].codeunit) == ("Customer No.", "Credit Check", catalogue.ECHO_PARAMETERS)
    assert names[0] not in ProbePage.fields  # the class's fields stay as declared
    page.run_tasks()
    assert [page.fields[name] for name in names] == ["10000", "in Cambridge"]
    assert [page.field_states[name] for name in names] == ["ok", "ok"]
    assert page.session.page.completed == []  # page code never sees the binding's task


def test_binding_tasks_are_cancelled_on_navigation_and_run_for_the_new_record(customers):  # S14, S17
    binding = make_binding()
    name = f"binding_{binding.id}_CustomerNo"
    page = TestPage.open("test-probe", "10000")
    [first] = page.tasks
    page.navigate("20000")
    assert page.task(first.task_id).state == "cancelled"
    assert page.field_states[name] == "loading"
    page.run_tasks()
    assert page.fields[name] == "20000"
    assert {t.record: t.state for t in page.tasks} == {"10000": "cancelled", "20000": "completed"}


def test_a_failed_binding_task_notifies_at_the_bindings_error_level(customers):  # S27
    binding = make_binding(codeunit_id=catalogue.RAISES_VALUE_ERROR, error_level="warning", results="x: X")
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    assert page.field_states[f"binding_{binding.id}_x"] == "failed"
    assert page.notifications == [("warning", "bad value")]
    assert page.session.page.errors == []  # not the page's error trigger


def test_an_ignored_binding_failure_shows_nothing_but_is_logged(customers):  # S27, S28
    make_binding(codeunit_id=catalogue.RAISES_VALUE_ERROR, error_level="ignore", results="x: X")
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    page.close()
    assert page.notifications == []
    [row] = TaskLogEntry.objects.all()
    assert (row.outcome, row.code, row.error_level, row.binding_id) == ("failed", "ValueError", "ignore", CodeunitBinding.objects.get().id)


def test_a_binding_uses_the_codeunits_defaults_unless_it_has_its_own(customers):
    CodeunitSetting.objects.filter(id=catalogue.ECHO_PARAMETERS).update(default_timeout_ms=7000, default_error_level="ignore")
    make_binding()
    make_binding(caption="Own", timeout_ms=3000, error_level="warning")
    page = TestPage.open("test-probe", "10000")
    tasks = sorted(page.session.queue.tasks.values(), key=lambda t: t.task_id)
    assert [(t.timeout_ms, t.error_level) for t in tasks] == [(7000, "ignore"), (3000, "warning")]


def test_a_binding_of_a_disabled_codeunit_fails_its_fields_and_the_page_goes_on(customers, monkeypatch):  # S7
    monkeypatch.setattr(ProbePage, "plan", [{"codeunit_id": catalogue.SLEEP_MS, "parameters": {"ms": "1"}}])
    binding = make_binding()
    CodeunitSetting.objects.filter(id=catalogue.ECHO_PARAMETERS).update(enabled=False)
    page = TestPage.open("test-probe", "10000")
    assert page.field_states[f"binding_{binding.id}_CustomerNo"] == "failed"
    [(level, text)] = page.notifications
    assert level == "error" and text.startswith("Credit Check: Codeunit") and "disabled" in text
    assert [t.codeunit for t in page.tasks] == [catalogue.SLEEP_MS]


def test_a_refresh_runs_the_bindings_again(customers):  # S33
    binding = make_binding()
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    page.refresh()
    name = f"binding_{binding.id}_CustomerNo"
    assert (page.fields[name], page.field_states[name]) == ("10000", "loading")
    page.run_tasks()
    assert page.field_states[name] == "ok"


def test_bindings_are_loaded_once_per_page_open(customers, django_assert_num_queries):
    make_binding()
    page = TestPage.open("test-probe", "10000")  # loads the snapshot
    page.run_tasks()
    with django_assert_num_queries(1):  # the customer record, nothing about bindings
        page.navigate("20000")


def test_disabled_bindings_and_other_pages_bindings_do_not_show(customers):
    make_binding(enabled=False)
    make_binding(page="customer-card")
    page = TestPage.open("test-probe", "10000")
    assert not [name for name in page.fields if name.startswith("binding_")]


def test_the_json_page_api_runs_bindings_too(client, customers):  # S34
    binding = make_binding()
    body = client.get("/api/pages/test-probe/10000/").json()
    assert body["fields"][f"binding_{binding.id}_CustomerNo"] == "10000"


def test_the_html_page_shows_binding_fields_loading_in_their_factbox(client, customers):  # S33
    binding = make_binding(page="customer-card", caption="Customer Statistics", results="CustomerNo: Echoed No.")
    response = client.get("/customers/10000/")
    name = f"binding_{binding.id}_CustomerNo"
    field = next(f for f in response.context["fields"] if f["name"] == name)
    assert (field["caption"], field["part"], field["state"]) == ("Echoed No.", "Customer Statistics", "loading")
    assert name in [f["name"] for f in response.context["parts"]["Customer Statistics"]]
    assert f'data-field="{name}" data-state="loading"' in response.text


# The page through the websocket -----------------------------------------------------


async def test_binding_fields_fill_in_and_are_cancelled_on_navigation_over_the_websocket(customers, embedded_worker):  # S14, S17, S33
    from channels.db import database_sync_to_async

    from tests.websocket import open_page, receive_until, send

    echo = await database_sync_to_async(make_binding)(parameters={"CustomerNo": "{no}"}, results="CustomerNo: Customer No.")
    slow = await database_sync_to_async(make_binding)(
        codeunit_id=catalogue.SLEEP_MS, caption="Slow", parameters={"ms": "5000"}, results="slept: Slept (ms)"
    )
    echo_field, slow_field = f"binding_{echo.id}_CustomerNo", f"binding_{slow.id}_slept"
    page = await open_page("test-probe", "10000")
    frames = await receive_until(page, lambda f: f["type"] == "page.state")
    assert frames[-1]["field_states"][echo_field] == frames[-1]["field_states"][slow_field] == "loading"
    frames = await receive_until(page, lambda f: f["type"] == "field.update" and echo_field in f["fields"])
    assert (frames[-1]["record"], frames[-1]["fields"][echo_field], frames[-1]["field_states"][echo_field]) == ("10000", "10000", "ok")

    await send(page, type="page.navigate", record="20000")
    frames = await receive_until(page, lambda f: f["type"] == "page.state" and f["record"] == "20000")
    cancelled = [(f["codeunit"], f["record"]) for f in frames if f["type"] == "task.state" and f["state"] == "cancelled"]
    assert cancelled == [(catalogue.SLEEP_MS, "10000")]  # the slow binding's task of the old record
    assert frames[-1]["fields"][echo_field] == "" and frames[-1]["field_states"][slow_field] == "loading"
    frames = await receive_until(page, lambda f: f["type"] == "field.update" and echo_field in f["fields"])
    assert (frames[-1]["record"], frames[-1]["fields"][echo_field]) == ("20000", "20000")
    assert not any(f["type"] == "field.update" and f["record"] != "20000" for f in frames)
    await page.disconnect()
