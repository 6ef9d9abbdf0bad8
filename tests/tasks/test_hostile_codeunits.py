"""Every hostile codeunit of the catalogue fails its own task, writes nothing, and
leaves a pool that still serves (S11, S16, S18, S23, S24).

Marked ``postgres``: these run on SQLite in the main pass and again on PostgreSQL
in ``make test-postgres``.
"""

import asyncio
import logging

import pytest
from django.apps import apps
from django.db import connection

from bcpages.demo.codeunits import CUST_BALANCE
from tasks import catalogue
from tasks.child_session import ChildSessionPool
from tasks.errors import CRASHED, INVALID_RESULT, READ_ONLY, TASK_TIMEOUT, TIMEOUT_TEXT
from tasks.messages import COMPLETED, FAILED, TaskRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

READ_ONLY_TAIL = " Background tasks may read the database; write from the page's triggers instead."

# (codeunit, parameters, timeout in ms, error code, words the error text contains)
WRITES = [
    (catalogue.ATTEMPTS_WRITE, "UPDATE on table 'demo_customer' was refused."),
    (catalogue.WRITES_ORM_CREATE, "INSERT on table 'demo_customer' was refused."),
    (catalogue.WRITES_ORM_BULK_CREATE, "INSERT on table 'demo_customer' was refused."),
    (catalogue.WRITES_ORM_UPDATE, "UPDATE on table 'demo_customer' was refused."),
    (catalogue.WRITES_ORM_DELETE, "DELETE on table 'demo_custledgerentry' was refused."),
    (catalogue.WRITES_RAW_INSERT, "INSERT on table 'demo_customer' was refused."),
    (catalogue.WRITES_RAW_UPDATE, "UPDATE on table 'demo_customer' was refused."),
    (catalogue.WRITES_RAW_DELETE, "DELETE on table 'demo_custledgerentry' was refused."),
    (catalogue.RUNS_DDL, "CREATE TABLE on table 'demo_child_session_table' was refused."),
    (catalogue.SELECTS_FOR_UPDATE, "SELECT ... FOR UPDATE on table 'demo_customer' was refused."),
    (catalogue.WRITES_THROUGH_SECOND_CONNECTION, "UPDATE on table 'demo_customer' was refused."),
    (catalogue.WRITES_THROUGH_NEW_ALIAS, "UPDATE on table 'demo_customer' was refused."),
    # Past Django's cursor and its guard, after switching the session to read-write:
    # only the database refuses, and says so.
    (catalogue.WRITES_PAST_THE_GUARD, "DELETE on table 'demo_custledgerentry' was refused by the database."),
    # Caught by the codeunit, the refusal still fails the task.
    (catalogue.SWALLOWS_WRITE_ERROR, "UPDATE on table 'demo_customer' was refused."),
]
CRASHES = [
    (catalogue.EXITS_PROCESS, {"code": "3"}, CRASHED, "exited with code 3"),
    (catalogue.KILLS_OWN_PROCESS, {}, CRASHED, "was killed by signal SIGKILL (Killed)"),
    (catalogue.SEGFAULTS, {}, CRASHED, "was killed by signal SIGSEGV (Segmentation fault)"),
    (catalogue.MEMORY_HOG, {}, CRASHED, "ran out of memory: it may use at most 1024 MiB (BCPAGES['CHILD_MEMORY_LIMIT_MB'])"),
    (catalogue.HUGE_RESULT, {}, INVALID_RESULT, "is 2,000,004 bytes; a result may be at most 960,000 bytes"),
    (catalogue.RETURNS_NON_STRING, {}, INVALID_RESULT, "Result value for 'count' is a int"),
    (catalogue.RAISES_SYSTEM_EXIT, {}, "SystemExit", "2"),
]
NEVER_RETURN = [
    (catalogue.BUSY_LOOP, {}),
    (catalogue.SLEEP_MS, {"ms": "600000"}),
    (catalogue.LONG_QUERY, {}),
    (catalogue.IGNORES_STOP, {}),
    (catalogue.IGNORES_STOP, {"query": "1"}),
]


@pytest.fixture
def pool(customers):
    pool = ChildSessionPool(2)
    yield pool
    pool.close()


def demo_row_counts():
    return {model._meta.db_table: model.objects.count() for model in apps.get_app_config("demo").get_models()}


def outcome_of(pool, codeunit_id, parameters=None, timeout_ms=10_000):
    return asyncio.run(pool.run(TaskRun("session-1", 1, codeunit_id, dict(parameters or {}), timeout_ms)))


def assert_the_pool_still_serves(pool):
    """A normal task completes on the same pool, with all its processes alive."""
    outcome = outcome_of(pool, CUST_BALANCE, {"CustomerNo": "10000", "Today": "2026-06-15"})
    assert (outcome.state, outcome.results) == (COMPLETED, {"balance": "350.50", "balance_due": "250.50"})
    assert len(pool.pids()) == pool.size


@pytest.mark.parametrize("codeunit_id, refused", WRITES, ids=[str(write[0]) for write in WRITES])
def test_every_write_form_fails_with_child_session_read_only_and_writes_nothing(pool, codeunit_id, refused):  # S18
    before = demo_row_counts()
    outcome = outcome_of(pool, codeunit_id)
    assert (outcome.state, outcome.error.code) == (FAILED, READ_ONLY)
    assert outcome.error.text.startswith("A child session is read-only: ")
    assert outcome.error.text.endswith(refused + READ_ONLY_TAIL)
    assert demo_row_counts() == before
    assert "demo_child_session_table" not in connection.introspection.table_names()
    from bcpages.demo.models import Customer

    assert set(Customer.objects.values_list("name", flat=True)) == {"Adatum Corporation", "Trey Research", "School of Fine Art"}
    assert_the_pool_still_serves(pool)


@pytest.mark.parametrize("codeunit_id, parameters, code, words", CRASHES, ids=[str(crash[0]) for crash in CRASHES])
def test_a_crashing_codeunit_fails_its_own_task_and_the_pool_keeps_serving(pool, caplog, codeunit_id, parameters, code, words):  # S24
    before = demo_row_counts()
    with caplog.at_level(logging.WARNING, logger="tasks"):
        outcome = outcome_of(pool, codeunit_id, parameters)
    assert (outcome.state, outcome.error.code) == (FAILED, code)
    assert words in outcome.error.text
    if code == CRASHED:
        assert outcome.error.text.startswith(f"The child session running codeunit {codeunit_id} ")
        logged = [message for message in caplog.messages if message.startswith("child_session_crashed ")]
        assert len(logged) == 1 and f"codeunit={codeunit_id} " in logged[0] and "task_id=1 " in logged[0]
    assert demo_row_counts() == before
    assert_the_pool_still_serves(pool)


@pytest.mark.parametrize("codeunit_id, parameters", NEVER_RETURN, ids=lambda value: str(value))
def test_a_codeunit_that_never_returns_times_out_and_the_pool_keeps_serving(pool, codeunit_id, parameters):  # S11, S16
    before = demo_row_counts()
    outcome = outcome_of(pool, codeunit_id, parameters, timeout_ms=300)
    assert (outcome.state, outcome.error.code, outcome.error.text) == (FAILED, TASK_TIMEOUT, TIMEOUT_TEXT)
    assert demo_row_counts() == before
    assert_the_pool_still_serves(pool)


def test_a_codeunit_that_returns_nothing_completes_with_an_empty_result(pool):  # S21
    assert outcome_of(pool, catalogue.RETURNS_NOTHING).results == {}
    assert_the_pool_still_serves(pool)


def test_one_crash_does_not_touch_the_other_running_task(pool):  # S24
    async def scenario():
        slow = asyncio.ensure_future(pool.run(TaskRun("s", 1, catalogue.SLEEP_MS, {"ms": "300"}, 10_000)))
        crash = await pool.run(TaskRun("s", 2, catalogue.SEGFAULTS, {}, 10_000))
        return crash, await slow

    crash, slow = asyncio.run(scenario())
    assert crash.error.code == CRASHED
    assert (slow.state, slow.results) == (COMPLETED, {"slept": "300"})
