"""The task log (S36): every task recorded with its timings and outcome, written
off the page's hot path; read-only in the admin; pruned after the retention."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks import catalogue, tasklog
from tasks.models import TaskLogEntry
from tasks.testing import TestPage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]



def rows():
    return list(TaskLogEntry.objects.order_by("task_id"))


def test_completed_and_failed_tasks_are_logged_with_timings_and_outcome(customers, plan, superuser):  # S36
    plan(
        {"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "hi"}, "timeout": 5000},
        {"codeunit_id": catalogue.RAISES_VALUE_ERROR, "error_level": "warning"},
    )
    page = TestPage.open("test-probe", "10000", user=superuser)
    page.run_tasks()
    page.close()
    completed, failed = rows()
    session = page.session.session_id
    assert (completed.session_id, completed.task_id, completed.username, completed.page, completed.record) == (session, 1, "admin", "test-probe", "10000")
    assert (completed.codeunit_id, completed.codeunit_name, completed.parameters) == (catalogue.ECHO_PARAMETERS, "echo_parameters", {"Echo": "hi"})
    assert (completed.error_level, completed.timeout_ms, completed.outcome, completed.code) == ("error", 5000, "completed", "")
    assert completed.queued_at <= completed.started_at <= completed.ended_at
    assert completed.duration_ms is not None and completed.duration_ms >= 0
    assert abs((timezone.now() - completed.ended_at).total_seconds()) < 30
    assert (failed.outcome, failed.code, failed.text, failed.error_level) == ("failed", "ValueError", "bad value", "warning")
    assert "raises_value_error" in failed.call_stack  # the worker's call stack


def test_handled_and_ignored_failures_are_logged_too(customers, plan):  # S28
    plan({"codeunit_id": catalogue.RAISES_VALUE_ERROR}, {"codeunit_id": catalogue.RAISES_VALUE_ERROR, "error_level": "ignore"}, handle_errors=True)
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    page.close()
    assert page.notifications == []
    assert [(r.outcome, r.code, r.error_level) for r in rows()] == [("failed", "ValueError", "error"), ("failed", "ValueError", "ignore")]


def test_a_task_cancelled_by_navigation_is_logged(customers, plan):  # S14, S36
    plan({"codeunit_id": catalogue.SLEEP_MS, "parameters": {"ms": "1"}})
    page = TestPage.open("test-probe", "10000")
    page.navigate("20000")
    page.run_tasks()
    page.close()
    assert [(r.record, r.outcome) for r in rows()] == [("10000", "cancelled"), ("20000", "completed")]


def test_tasks_still_queued_or_running_when_the_page_closes_are_logged_cancelled(customers, plan):  # S15, S36
    plan(*[{"codeunit_id": catalogue.NOOP}] * 7)
    page = TestPage.open("test-probe", "10000")
    assert [t.state for t in page.tasks].count("queued") == 2
    page.close()
    logged = rows()
    assert [r.outcome for r in logged] == ["cancelled"] * 7
    assert [r.started_at is None for r in logged] == [False] * 5 + [True] * 2  # two never left the queue


def test_recording_writes_nothing_until_flushed(customers, plan):
    plan({"codeunit_id": catalogue.NOOP})
    page = TestPage.open("test-probe", "10000")
    with CaptureQueriesContext(connection) as queries:
        page.run_tasks()
    assert not [q for q in queries.captured_queries if "tasks_tasklogentry" in q["sql"]]
    assert tasklog.pending() == 1 and TaskLogEntry.objects.count() == 0
    assert tasklog.flush() == 1
    assert TaskLogEntry.objects.count() == 1


def test_a_failing_write_never_breaks_the_page(customers, plan, monkeypatch):
    plan({"codeunit_id": catalogue.NOOP})

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(TaskLogEntry.objects, "bulk_create", broken)
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    page.close()  # flushes: the failure is logged, not raised
    assert tasklog.pending() == 0


def test_the_json_page_api_logs_its_tasks(client, customers):  # S34, S36
    client.get("/api/pages/customer-card/10000/")
    assert sorted(r.codeunit_id for r in rows()) == [50100, 50110, 50111, 50112]
    assert {r.page for r in rows()} == {"customer-card"}


# The admin list ---------------------------------------------------------------------


def make_rows():
    now = timezone.now()
    common = dict(session_id="s1", page="customer-card", record="10000", parameters={}, error_level="error", timeout_ms=1000)
    TaskLogEntry.objects.bulk_create([
        TaskLogEntry(task_id=1, codeunit_id=50110, codeunit_name="Cust. Balance", queued_at=now, started_at=now, ended_at=now, duration_ms=3, outcome="completed", **common),
        TaskLogEntry(task_id=2, codeunit_id=50100, codeunit_name="PBT Wait", queued_at=now, started_at=now, ended_at=now, duration_ms=3, outcome="failed", code="ChildSessionTaskTimeout", text="Child Session task was terminated because of a timeout.", **common),
        TaskLogEntry(task_id=3, codeunit_id=50100, codeunit_name="PBT Wait", queued_at=now - datetime.timedelta(days=3), ended_at=now, outcome="cancelled", **{**common, "page": "role-center", "record": ""}),
    ])


def test_the_admin_list_filters_by_outcome_codeunit_page_and_date_and_searches(admin_client):
    make_rows()
    base = "/admin/tasks/tasklogentry/"

    def listed(query):
        response = admin_client.get(base + query)
        assert response.status_code == 200, query
        return sorted(row.task_id for row in response.context["cl"].result_list)

    assert listed("") == [1, 2, 3]
    assert listed("?outcome__exact=failed") == [2]
    assert listed("?codeunit=50100") == [2, 3]
    assert listed("?page=role-center") == [3]
    since = (timezone.now() - datetime.timedelta(days=1)).replace(microsecond=0)
    assert listed("?queued_at__gte=" + since.isoformat().replace("+", "%2B")) == [1, 2]
    assert listed("?q=ChildSessionTaskTimeout") == [2]


def test_the_log_is_read_only_in_the_admin(client, staff, superuser):
    from django.contrib.auth.models import Permission

    make_rows()
    row = TaskLogEntry.objects.get(task_id=1)
    staff.user_permissions.add(*Permission.objects.filter(codename__endswith="tasklogentry"))
    client.force_login(staff)
    assert client.get(f"/admin/tasks/tasklogentry/{row.id}/change/").status_code == 200  # view only
    assert client.post(f"/admin/tasks/tasklogentry/{row.id}/change/", {"outcome": "completed"}).status_code == 403
    assert client.get("/admin/tasks/tasklogentry/add/").status_code == 403
    assert client.post(f"/admin/tasks/tasklogentry/{row.id}/delete/", {"post": "yes"}).status_code == 403
    client.force_login(superuser)
    assert client.post(f"/admin/tasks/tasklogentry/{row.id}/delete/", {"post": "yes"}).status_code == 302
    assert not TaskLogEntry.objects.filter(id=row.id).exists()


def test_the_detail_shows_the_call_stack(admin_client):
    make_rows()
    TaskLogEntry.objects.filter(task_id=2).update(call_stack="Traceback (most recent call last):\n  File \"x.py\"")
    response = admin_client.get(f"/admin/tasks/tasklogentry/{TaskLogEntry.objects.get(task_id=2).id}/change/")
    assert "Traceback (most recent call last):" in response.text


# Retention --------------------------------------------------------------------------


@override_settings(BCPAGES={"TASK_LOG_RETENTION_DAYS": 2, "CODEUNIT_MODULES": ["tasks.catalogue"]})
def test_prune_task_log_removes_rows_older_than_the_retention():
    make_rows()
    out = io.StringIO()
    call_command("prune_task_log", "--dry-run", stdout=out)
    assert out.getvalue().startswith("1 task log row(s)") and TaskLogEntry.objects.count() == 3
    call_command("prune_task_log", stdout=out)
    assert sorted(TaskLogEntry.objects.values_list("task_id", flat=True)) == [1, 2]
    assert "Deleted 1 task log row(s)" in out.getvalue() and "(kept 2 days)" in out.getvalue()


def test_prune_task_log_takes_days_from_the_command_line():
    make_rows()
    call_command("prune_task_log", "--days", "5", stdout=io.StringIO())
    assert TaskLogEntry.objects.count() == 3
    call_command("prune_task_log", "--days", "0", stdout=io.StringIO())
    assert TaskLogEntry.objects.count() == 0


# Over the websocket: the flusher ------------------------------------------------------


async def test_the_consumers_tasks_reach_the_log_through_the_background_flusher(customers, embedded_worker, plan):  # S15, S36
    from channels.db import database_sync_to_async

    from tests.admin.conftest import async_wait_for
    from tests.websocket import open_page, receive_until

    plan({"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "x"}}, {"codeunit_id": catalogue.SLEEP_MS, "parameters": {"ms": "5000"}})
    page = await open_page("test-probe", "10000")
    await receive_until(page, lambda f: f["type"] == "task.state" and f["state"] == "completed")
    assert tasklog.flusher_running()
    await page.disconnect()  # the sleeping task ends cancelled (S15)

    async def logged():
        found = await database_sync_to_async(lambda: sorted(TaskLogEntry.objects.values_list("codeunit_id", "outcome")))()
        return found if len(found) == 2 else None

    # Written by the flusher's own thread within about FLUSH_INTERVAL_S: wait for it.
    assert await async_wait_for(logged, timeout=10) == [(catalogue.ECHO_PARAMETERS, "completed"), (catalogue.SLEEP_MS, "cancelled")]
