"""Child sessions in their own processes: outcomes, timeouts, cancellation, and
a pool that keeps serving (S6, S11, S16, S18, S19, S21-S24).

Marked ``postgres``: these run on SQLite in the main pass and again on PostgreSQL
in ``make test-postgres``. The child processes open their own connections, so
the tests commit their data (``transaction=True``).
"""

import asyncio
import inspect
import logging
import os
import time

import psutil
import pytest
from django.db import connection, connections
from django.test import override_settings

from tasks import catalogue, conf, is_child_session
from tasks.child_database import child_role
from tasks.child_session import ChildSessionPool, execute, run_sync
from tasks.errors import INVALID_RESULT, LOST, READ_ONLY, TASK_TIMEOUT, TIMEOUT_TEXT
from tasks.messages import COMPLETED, FAILED, TaskRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def task(codeunit_id, parameters=None, timeout_ms=10_000, task_id=1):
    return TaskRun("session-1", task_id, codeunit_id, dict(parameters or {}), timeout_ms)


@pytest.fixture
def pool():
    pool = ChildSessionPool(2)
    yield pool
    pool.close()


def run(pool, run):
    return asyncio.run(pool.run(run))


async def wait_until(predicate, what, timeout=10.0):
    """Poll ``predicate`` (a function, or a coroutine function) until it holds;
    fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (await predicate() if inspect.iscoroutinefunction(predicate) else predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        await asyncio.sleep(0.002)


def cpu_seconds(pid):
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return None
    return times.user + times.system


def gone_or_idle(pid):
    """The process has ended, or waits for its next task (not running)."""
    try:
        return psutil.Process(pid).status() in (psutil.STATUS_SLEEPING, psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return True


async def start_and_wait_until_busy(pool, codeunit_id, parameters=None):
    """Start ``codeunit_id`` and return (asyncio task, child pid) once the child burns CPU."""
    before = {pid: cpu_seconds(pid) for pid in pool.pids()}
    running = asyncio.ensure_future(pool.run(task(codeunit_id, parameters, timeout_ms=60_000)))
    busy = []

    def someone_is_busy():
        busy[:] = [pid for pid in pool.pids() if (cpu_seconds(pid) or 0) - (before.get(pid) or 0) > 0.05]
        return bool(busy)

    await wait_until(someone_is_busy, f"codeunit {codeunit_id} runs")
    return running, busy[0]


def test_the_pool_starts_its_processes_before_the_first_task(pool):
    pids = pool.pids()
    assert len(pids) == pool.size == 2
    assert os.getpid() not in pids
    assert all(psutil.pid_exists(pid) for pid in pids)


def test_a_codeunit_runs_in_a_child_process_on_the_parents_database_read_only(pool, customers):  # S18, S22
    outcome = run(pool, task(catalogue.REPORTS_PROCESS))
    assert outcome.state == COMPLETED, outcome.error
    assert int(outcome.results["pid"]) in pool.pids()
    assert int(outcome.results["pid"]) != os.getpid()
    name = outcome.results["name"]
    if connection.vendor == "sqlite":
        # The test database pytest-django switched to, opened read-only.
        assert name.startswith("file:") and name.endswith("?mode=ro")
        assert str(connection.settings_dict["NAME"]) in name
    else:
        assert name == connection.settings_dict["NAME"]
        assert outcome.results["user"] == child_role(connection.settings_dict)[0]


def test_results_come_back_and_returning_nothing_is_an_empty_result(pool):  # S21
    assert run(pool, task(catalogue.ECHO_PARAMETERS, {"a": "1", "b": "two"})).results == {"a": "1", "b": "two"}
    outcome = run(pool, task(catalogue.RETURNS_NOTHING))
    assert (outcome.state, outcome.results) == (COMPLETED, {})


def test_a_raising_codeunit_fails_with_its_code_text_and_stack(pool):  # S23
    coded = run(pool, task(catalogue.RAISES_CODED_ERROR, {"text": "Customer 10000 is blocked."}))
    assert (coded.state, coded.error.code, coded.error.text) == (FAILED, "CustomerBlocked", "Customer 10000 is blocked.")
    assert "raises_coded_error" in coded.error.call_stack
    plain = run(pool, task(catalogue.RAISES_VALUE_ERROR))
    assert (plain.error.code, plain.error.text) == ("ValueError", "bad value")


def test_code_knows_it_runs_in_a_child_session(pool):  # S22
    assert run(pool, task(catalogue.IS_CHILD_SESSION)).results == {"child_session": "True"}
    assert is_child_session() is False


def test_a_child_session_has_no_user_to_ask_and_no_way_back_to_the_page(pool):  # S20
    # No terminal: input() fails at once (EOFError), long before the timeout.
    started = time.monotonic()
    asked = run(pool, task(catalogue.ASKS_THE_USER, timeout_ms=30_000))
    assert (asked.state, asked.error.code) == (FAILED, "EOFError")
    assert time.monotonic() - started < 10
    # No channel layer: a codeunit cannot send a page anything but its result.
    called = run(pool, task(catalogue.CALLS_THE_PAGE, {"channel": "specific.page!1"}))
    assert (called.state, called.error.code) == (FAILED, "CallbackUINotAllowed")
    assert "cannot use the channel layer 'default'" in called.error.text
    # The pool still serves.
    assert run(pool, task(catalogue.ECHO_PARAMETERS, {"a": "1"})).results == {"a": "1"}


def test_in_memory_work_is_allowed(pool, customers):  # S19
    outcome = run(pool, task(catalogue.WORKS_IN_MEMORY))
    assert outcome.results == {"unsaved": "100", "seventh": "Changed in memory", "stored": "3"}


def test_results_must_be_strings_and_fit_in_one_message(pool):  # S6
    wrong_type = run(pool, task(catalogue.RETURNS_NON_STRING))
    assert wrong_type.error.code == INVALID_RESULT and "'count'" in wrong_type.error.text
    huge = run(pool, task(catalogue.HUGE_RESULT, {"bytes": "2000000"}))
    assert huge.error.code == INVALID_RESULT
    assert "is 2,000,004 bytes" in huge.error.text and "at most 960,000 bytes" in huge.error.text
    assert run(pool, task(catalogue.HUGE_RESULT, {"bytes": "900000"})).state == COMPLETED


def test_a_timeout_stops_the_codeunit_and_the_slot_serves_the_next_task(pool):  # S11, S16
    started = time.monotonic()
    outcome = run(pool, task(catalogue.SLEEP_MS, {"ms": "60000"}, timeout_ms=200))
    elapsed = time.monotonic() - started
    assert (outcome.state, outcome.error.code, outcome.error.text) == (FAILED, TASK_TIMEOUT, TIMEOUT_TEXT)
    assert elapsed < 0.2 + conf.get("CANCEL_GRACE_MS") / 1000 + 1.0
    assert run(pool, task(catalogue.NOOP)).state == COMPLETED


@pytest.mark.parametrize(
    "codeunit_id, parameters",
    [(catalogue.BUSY_LOOP, {}), (catalogue.LONG_QUERY, {})],
    ids=["busy_loop", "long_query"],
)
def test_a_cancelled_codeunit_stops_using_cpu(pool, codeunit_id, parameters):  # S16
    if codeunit_id == catalogue.LONG_QUERY and connection.vendor != "sqlite":
        pytest.skip("the query burns the server's CPU, not the child's: see test_a_cancelled_query_stops_on_the_database_server")

    async def scenario():
        running, pid = await start_and_wait_until_busy(pool, codeunit_id, parameters)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        # Asked to stop, the codeunit stopped: its process waits for the next task.
        await wait_until(lambda: gone_or_idle(pid), f"process {pid} is gone or idle")
        first = cpu_seconds(pid)
        await asyncio.sleep(0.3)  # a measuring window, not synchronisation
        second = cpu_seconds(pid)
        assert first is None or second is None or second - first < 0.05, (first, second)
        return await pool.run(task(catalogue.NOOP))

    assert asyncio.run(scenario()).state == COMPLETED


def test_a_codeunit_that_ignores_the_stop_is_killed_and_replaced(pool, caplog):  # S16
    async def scenario():
        running, pid = await start_and_wait_until_busy(pool, catalogue.IGNORES_STOP)
        cancelled_at = time.monotonic()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        # pool.run returned only after the kill: the process is gone already.
        assert not psutil.pid_exists(pid)
        assert time.monotonic() - cancelled_at < conf.get("CANCEL_GRACE_MS") / 1000 + 1.0
        assert pid not in pool.pids() and len(pool.pids()) == pool.size
        return await pool.run(task(catalogue.NOOP))

    with caplog.at_level(logging.INFO, logger="tasks"):
        assert asyncio.run(scenario()).state == COMPLETED
    assert any("child_session_killed pid=" in message and "reason=cancel" in message for message in caplog.messages)


def test_a_cancel_before_the_codeunit_started_does_not_cost_the_process(pool):  # S16
    async def scenario():
        pids = set(pool.pids())
        running = asyncio.ensure_future(pool.run(task(catalogue.BUSY_LOOP, timeout_ms=60_000)))
        await asyncio.sleep(0)  # the run is sent; the child may not have read it yet
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert set(pool.pids()) == pids  # stopped, not killed
        return await pool.run(task(catalogue.NOOP))

    assert asyncio.run(scenario()).state == COMPLETED


def test_a_cancelled_query_stops_on_the_database_server(pool, customers):  # S16
    if connection.vendor != "postgresql":
        pytest.skip("on SQLite the query runs inside the child process (see the CPU test)")
    role = child_role(connection.settings_dict)[0]

    def active_queries():
        probe = connections.create_connection("default")
        try:
            with probe.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND state = 'active' AND query LIKE %s",
                    [role, "%RECURSIVE counter%"],
                )
                return cursor.fetchone()[0]
        finally:
            probe.close()

    async def running_queries():  # the event loop's thread may not touch the database
        return await asyncio.to_thread(active_queries)

    async def no_running_queries():
        return await running_queries() == 0

    async def scenario(codeunit_id, parameters):
        running = asyncio.ensure_future(pool.run(task(codeunit_id, parameters, timeout_ms=60_000)))
        await wait_until(running_queries, "the query runs on the server")
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await wait_until(no_running_queries, "the server stopped the query", timeout=5)

    asyncio.run(scenario(catalogue.LONG_QUERY, {}))  # cancelled by the codeunit's own connection
    asyncio.run(scenario(catalogue.IGNORES_STOP, {"query": "1"}))  # killed: its backend is ended
    assert run(pool, task(catalogue.NOOP)).state == COMPLETED


def test_run_sync_has_the_same_rules(customers):  # S18, S34, S35
    pool = ChildSessionPool(1)
    try:
        in_worker = run(pool, task(catalogue.ATTEMPTS_WRITE))
    finally:
        pool.close()
    synchronous = run_sync(task(catalogue.ATTEMPTS_WRITE))
    assert synchronous.error.code == READ_ONLY
    assert synchronous.error.text == in_worker.error.text
    assert "UPDATE on table 'demo_customer'" in synchronous.error.text
    assert int(run_sync(task(catalogue.REPORTS_PROCESS)).results["pid"]) != os.getpid()
    timed_out = run_sync(task(catalogue.BUSY_LOOP, timeout_ms=200))
    assert (timed_out.error.code, timed_out.error.text) == (TASK_TIMEOUT, TIMEOUT_TEXT)
    assert run_sync(task(catalogue.NOOP)).state == COMPLETED


def test_close_kills_every_process_and_is_idempotent():
    pool = ChildSessionPool(2)
    pids = pool.pids()
    pool.close()
    pool.close()
    assert not any(psutil.pid_exists(pid) for pid in pids)
    outcome = run(pool, task(catalogue.NOOP))
    assert outcome.error.code == LOST


def test_a_settings_change_gets_a_freshly_started_process(pool):
    before = set(pool.pids())
    with override_settings(BCPAGES={**conf.DEFAULTS, "CHILD_MEMORY_LIMIT_MB": 512, "CODEUNIT_MODULES": ["tasks.catalogue"]}):
        pid = int(run(pool, task(catalogue.REPORTS_PROCESS)).results["pid"])
    assert pid not in before


def test_the_memory_limit_is_a_setting(pool):  # S24
    with override_settings(BCPAGES={**conf.DEFAULTS, "CHILD_MEMORY_LIMIT_MB": 256, "CODEUNIT_MODULES": ["tasks.catalogue"]}):
        small = run(pool, task(catalogue.MEMORY_HOG, {"mb": "512"}))
    assert "at most 256 MiB" in small.error.text
    assert run(pool, task(catalogue.MEMORY_HOG, {"mb": "512"})).results == {"allocated_mb": "512"}


def test_execute_runs_a_codeunit_in_this_process_with_the_guard(customers):  # S18
    assert execute(task(catalogue.NOOP)).state == COMPLETED
    refused = execute(task(catalogue.ATTEMPTS_WRITE))
    assert refused.error.code == READ_ONLY


async def test_the_worker_runs_child_sessions_setting_many_processes(embedded_worker):
    assert embedded_worker.pool.size == conf.get("CHILD_SESSIONS")
    assert len(embedded_worker.pool.pids()) == conf.get("CHILD_SESSIONS")
