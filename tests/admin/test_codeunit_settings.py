"""Codeunits in the admin: rows from the registry, the administrator's settings,
the allow-list of implementations, and what a disabled codeunit does to enqueue."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks import catalogue, settings_cache
from tasks.codeunits import check_enabled, get_codeunit, registered_codeunits
from tasks.errors import UnknownCodeunit
from tasks.models import CodeunitSetting
from tasks.testing import TestPage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

CHANGE_URL = "/admin/tasks/codeunitsetting/{}/change/"



def change_form_data(row, **changes):
    data = {
        "implementation": row.implementation,
        "enabled": "on" if row.enabled else "",
        "default_timeout_ms": row.default_timeout_ms or "",
        "default_error_level": row.default_error_level,
        "notes": row.notes,
        "_save": "Save",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != "" or key in ("notes",)}


# Rows from the registry ----------------------------------------------------------


def test_every_registered_codeunit_has_a_row_after_migrate():  # S36
    rows = CodeunitSetting.objects.in_bulk()
    for unit in registered_codeunits():
        row = rows[unit.id]
        assert (row.name, row.implementation, row.enabled) == (unit.name, unit.implementation, True)
    assert rows[catalogue.NOOP].implementation == "tasks.catalogue.noop"


def test_a_codeunit_removed_from_the_code_shows_as_missing_not_as_an_error(admin_client):
    CodeunitSetting.objects.create(id=98765, name="Old Report", implementation="oldapp.codeunits.old_report")
    response = admin_client.get("/admin/tasks/codeunitsetting/")
    assert response.status_code == 200
    assert "Old Report" in response.text
    missing = admin_client.get("/admin/tasks/codeunitsetting/?in_code=no")
    assert "Old Report" in missing.text and "PBT Wait" not in missing.text
    page = admin_client.get(CHANGE_URL.format(98765))
    assert page.status_code == 200
    assert "missing from the code" in page.text
    assert not CodeunitSetting.objects.get(id=98765).registered


def test_the_list_view_adds_rows_for_codeunits_registered_since_start_up(admin_client):
    CodeunitSetting.objects.filter(id=catalogue.SLEEP_MS).delete()
    admin_client.get("/admin/tasks/codeunitsetting/")
    assert CodeunitSetting.objects.get(id=catalogue.SLEEP_MS).implementation == "tasks.catalogue.sleep_ms"


# Editing ----------------------------------------------------------------------------


def test_administrator_edits_enabled_timeout_error_level_and_notes(admin_client):
    row = CodeunitSetting.objects.get(id=catalogue.ECHO_PARAMETERS)
    response = admin_client.post(
        CHANGE_URL.format(row.id),
        change_form_data(row, enabled="", default_timeout_ms="5000", default_error_level="warning", notes="Checked by IT."),
    )
    assert response.status_code == 302, response.text
    row.refresh_from_db()
    assert (row.enabled, row.default_timeout_ms, row.default_error_level, row.notes) == (False, 5000, "warning", "Checked by IT.")


def test_default_timeout_above_the_maximum_is_a_form_error(admin_client):
    row = CodeunitSetting.objects.get(id=catalogue.ECHO_PARAMETERS)
    response = admin_client.post(CHANGE_URL.format(row.id), change_form_data(row, default_timeout_ms="700000"))
    assert response.status_code == 200
    assert "above the server&#x27;s maximum of 600000 ms" in response.text
    row.refresh_from_db()
    assert row.default_timeout_ms is None


@pytest.mark.parametrize("implementation", ["os.system", "tasks.catalogue.kills_own_process", "builtins.eval"])
def test_a_made_up_implementation_is_rejected(admin_client, implementation):
    row = CodeunitSetting.objects.get(id=catalogue.NOOP)
    response = admin_client.post(CHANGE_URL.format(row.id), change_form_data(row, implementation=implementation, notes="x"))
    assert response.status_code == 200
    assert "Select a valid choice" in response.text
    row.refresh_from_db()
    assert (row.implementation, row.notes) == ("tasks.catalogue.noop", "")
    assert get_codeunit(catalogue.NOOP).implementation == "tasks.catalogue.noop"


def test_the_implementation_is_a_choice_from_the_registry_never_a_text_box(admin_client):
    response = admin_client.get(CHANGE_URL.format(catalogue.NOOP))
    form = response.context["adminform"].form
    field = form.fields["implementation"]
    assert list(field.choices) == [("tasks.catalogue.noop", f"tasks.catalogue.noop (codeunit {catalogue.NOOP} noop)")]
    assert '<select name="implementation"' in response.text
    assert '<input type="text" name="implementation"' not in response.text


def test_a_missing_codeunit_keeps_its_implementation_whatever_is_posted(admin_client):
    row = CodeunitSetting.objects.create(id=98766, name="Gone", implementation="gone.codeunits.gone")
    response = admin_client.post(CHANGE_URL.format(row.id), {"implementation": "os.system", "notes": "gone", "_save": "Save"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.implementation, row.notes) == ("gone.codeunits.gone", "gone")


def test_codeunits_cannot_be_added_by_hand_nor_registered_ones_deleted(admin_client):
    assert admin_client.get("/admin/tasks/codeunitsetting/add/").status_code == 403
    assert admin_client.post(f"/admin/tasks/codeunitsetting/{catalogue.NOOP}/delete/", {"post": "yes"}).status_code == 403
    assert CodeunitSetting.objects.filter(id=catalogue.NOOP).exists()


def test_enable_and_disable_actions_take_effect_at_once(admin_client):
    unit = get_codeunit(catalogue.NOOP)
    check_enabled(unit)  # loads the snapshot
    admin_client.post("/admin/tasks/codeunitsetting/", {"action": "disable", "_selected_action": [catalogue.NOOP]})
    with pytest.raises(UnknownCodeunit):
        check_enabled(unit)
    admin_client.post("/admin/tasks/codeunitsetting/", {"action": "enable", "_selected_action": [catalogue.NOOP]})
    assert check_enabled(unit) is unit


# Disabled codeunits (S7) ----------------------------------------------------------------


def test_enqueue_of_a_disabled_codeunit_fails_with_unknown_codeunit_and_says_disabled(customers, plan):  # S7
    CodeunitSetting.objects.filter(id=catalogue.ECHO_PARAMETERS).update(enabled=False)
    settings_cache.invalidate()  # update() sends no post_save
    page = TestPage.open("test-probe", "10000")
    with pytest.raises(UnknownCodeunit) as raised:
        page.session.page.enqueue_background_task(catalogue.ECHO_PARAMETERS, {"Echo": "x"})
    assert raised.value.code == "UnknownCodeunit"
    assert f"Codeunit {catalogue.ECHO_PARAMETERS} 'echo_parameters' is disabled by an administrator" in raised.value.text
    assert page.tasks == []
    assert page.field_states["echo"] == "failed"
    assert page.invoke(lambda p: p.try_enqueue_background_task(catalogue.ECHO_PARAMETERS)) is None
    page.invoke(lambda p: p.enqueue_background_task(catalogue.ECHO_PARAMETERS))  # raises inside page code
    assert page.notifications[-1][0] == "error" and "is disabled" in page.notifications[-1][1]


def test_a_disabled_codeunit_in_on_after_get_curr_record_shows_an_error_notification(customers, plan):  # S7, S29
    plan({"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "x"}})
    row = CodeunitSetting.objects.get(id=catalogue.ECHO_PARAMETERS)
    row.enabled = False
    row.save()  # post_save: this process sees it at once
    page = TestPage.open("test-probe", "10000")
    [(level, text)] = page.notifications
    assert level == "error" and "is disabled by an administrator" in text
    row.enabled = True
    row.save()
    page.navigate("20000")
    assert [t.state for t in page.tasks] == ["running"]


def test_run_page_background_task_refuses_a_disabled_codeunit_too(customers):  # S35
    CodeunitSetting.objects.filter(id=catalogue.NOOP).update(enabled=False)
    settings_cache.invalidate()
    page = TestPage.open("test-probe", "10000")
    with pytest.raises(UnknownCodeunit, match="disabled"):
        page.run_page_background_task(catalogue.NOOP)


# The cache ---------------------------------------------------------------------------


def test_enqueue_does_not_query_the_settings_in_the_steady_state(customers, plan):
    page = TestPage.open("test-probe", "10000")
    page.invoke(lambda p: p.enqueue_background_task(catalogue.NOOP))  # the snapshot is loaded by now
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            page.invoke(lambda p: p.enqueue_background_task(catalogue.NOOP))
    assert [q["sql"] for q in queries.captured_queries if "tasks_" in q["sql"]] == []


def test_another_process_sees_a_change_within_the_ttl(customers, monkeypatch):
    """A change made elsewhere (no post_save here) is seen once the snapshot is older than TTL_S."""
    clock = [1000.0]
    monkeypatch.setattr(settings_cache.time, "monotonic", lambda: clock[0])
    unit = get_codeunit(catalogue.NOOP)
    assert check_enabled(unit) is unit
    CodeunitSetting.objects.filter(id=catalogue.NOOP).update(enabled=False)  # "another process"
    clock[0] += settings_cache.TTL_S / 2
    assert check_enabled(unit) is unit  # still the snapshot
    clock[0] += settings_cache.TTL_S
    with pytest.raises(UnknownCodeunit, match="disabled"):
        check_enabled(unit)


# Administrator's defaults ------------------------------------------------------------


def test_the_administrators_defaults_apply_when_page_code_leaves_them_out(customers, plan):
    row = CodeunitSetting.objects.get(id=catalogue.ECHO_PARAMETERS)
    row.default_timeout_ms, row.default_error_level = 4321, "warning"
    row.save()
    page = TestPage.open("test-probe", "10000")
    task_id = page.invoke(lambda p: p.enqueue_background_task(catalogue.ECHO_PARAMETERS))
    task = page.session.queue.tasks[task_id]
    assert (task.timeout_ms, task.error_level) == (4321, "warning")


def test_page_code_that_names_a_timeout_or_error_level_keeps_it(customers, plan):
    row = CodeunitSetting.objects.get(id=catalogue.ECHO_PARAMETERS)
    row.default_timeout_ms, row.default_error_level = 4321, "warning"
    row.save()
    page = TestPage.open("test-probe", "10000")
    task_id = page.invoke(lambda p: p.enqueue_background_task(catalogue.ECHO_PARAMETERS, timeout=999, error_level="error"))
    task = page.session.queue.tasks[task_id]
    assert (task.timeout_ms, task.error_level) == (999, "error")


def test_without_defaults_the_server_default_timeout_applies(customers, plan):  # S9
    page = TestPage.open("test-probe", "10000")
    task_id = page.invoke(lambda p: p.enqueue_background_task(catalogue.ECHO_PARAMETERS))
    task = page.session.queue.tasks[task_id]
    assert (task.timeout_ms, task.error_level) == (120_000, "error")
