"""The parent session's rules, without sockets: tasks run through tasks.testing.TestPage
in real child sessions."""

import logging

import pytest
from django.test import override_settings

from bcpages.frames import FrameError
from tasks import catalogue, conf
from tasks.errors import (
    LOST,
    ChildSessionsMaxQueueLength,
    InvalidTaskParameters,
    InvalidTaskTimeout,
    UnknownCodeunit,
)
from tasks.testing import TaskFailed, TestPage
from tests.pages import ProbePage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]



def probe(page):
    return page.session.page


def task_states(page):
    return {t.task_id: t.state for t in page.tasks}


# Lifecycle (S1-S4) ----------------------------------------------------------------


def test_completed_task_calls_the_completion_trigger_once(customers, plan):  # S1, S2
    plan({"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "hello"}})
    page = TestPage.open("test-probe", "10000")
    assert [t.state for t in page.tasks] == ["running"]
    page.run_tasks()
    assert probe(page).completed == [(1, {"Echo": "hello"})]
    assert probe(page).errors == []
    assert page.fields["echo"] == "hello"
    assert [f["state"] for f in page.frames if f["type"] == "task.state"] == ["queued", "running", "completed"]


def test_failed_task_calls_the_error_trigger_once_with_code_text_and_stack(customers, plan):  # S2, S23, S27
    plan({"codeunit_id": catalogue.RAISES_VALUE_ERROR})
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    assert probe(page).completed == []
    [(task_id, error)] = probe(page).errors
    assert (task_id, error.code, error.text) == (1, "ValueError", "bad value")
    assert "raises_value_error" in error.call_stack
    assert page.tasks[0].state == "failed"


def test_exception_code_attribute_becomes_the_error_code(customers, plan):  # S23
    plan({"codeunit_id": catalogue.RAISES_CODED_ERROR, "parameters": {"text": "Blocked for sales."}})
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    [(_, error)] = probe(page).errors
    assert (error.code, error.text) == ("CustomerBlocked", "Blocked for sales.")


def test_cancelled_task_calls_no_trigger_even_when_its_result_arrives(customers, plan):  # S2
    plan({"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "late"}})
    page = TestPage.open("test-probe", "10000")
    [run] = list(page._runs)
    page.action("cancel", task_id=1)
    from tasks.child_session import run_sync

    page._do(page.session.task_outcome, run_sync(run))  # the late result
    assert probe(page).completed == [] and probe(page).errors == []
    assert page.task(1).state == "cancelled"
    assert page.fields["echo"] == ""


def test_one_trigger_serves_every_task_told_apart_by_task_id(customers, plan):  # S4
    plan(
        {"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "a"}},
        {"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "b"}},
    )
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    assert probe(page).completed == [(1, {"Echo": "a"}), (2, {"Echo": "b"})]


# Enqueue and cancel (S5-S8) -------------------------------------------------------


def test_task_ids_are_positive_unique_and_increasing(customers, plan):  # S5
    plan(*[{"codeunit_id": catalogue.NOOP}] * 3)
    page = TestPage.open("test-probe", "10000")
    page.navigate(step="next")
    assert probe(page).enqueued == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    "parameters, fragment",
    [
        ({"n": 1}, "value for 'n' is a int"),
        ({1: "x"}, "key 1 is a int"),
        ({"nested": {"a": "b"}}, "value for 'nested' is a dict"),
        ({"raw": b"x"}, "value for 'raw' is a bytes"),
        (["a"], "must be a dict of str to str, not list"),
    ],
)
def test_parameters_must_be_str_to_str_and_enqueue_fails_naming_the_value(customers, plan, parameters, fragment):  # S6, S7
    page = TestPage.open("test-probe", "10000")
    with pytest.raises(InvalidTaskParameters, match=fragment.replace("(", r"\(")):
        probe(page).enqueue_background_task(catalogue.ECHO_PARAMETERS, parameters)
    assert page.tasks == []  # nothing queued


def test_parameters_are_a_snapshot_taken_at_enqueue(customers, plan):  # S6
    page = TestPage.open("test-probe", "10000")
    parameters = {"Echo": "before"}

    def enqueue_then_change(p):
        p.enqueue_background_task(catalogue.ECHO_PARAMETERS, parameters)
        parameters["Echo"] = "after"

    page.invoke(enqueue_then_change)
    page.run_tasks()
    assert probe(page).completed == [(1, {"Echo": "before"})]


def test_result_that_is_not_str_to_str_fails_the_task(customers, plan):  # S6
    plan({"codeunit_id": catalogue.RETURNS_NON_STRING})
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    [(_, error)] = probe(page).errors
    assert error.code == "InvalidTaskResult"
    assert "'count' is a int" in error.text


def test_unknown_codeunit_fails_enqueue(customers, plan):  # S7
    page = TestPage.open("test-probe", "10000")
    with pytest.raises(UnknownCodeunit, match="Codeunit 12345 is not registered"):
        probe(page).enqueue_background_task(12345)
    assert page.tasks == []


@pytest.mark.parametrize("timeout", [0, -5, 1.5, "1000", True])
def test_timeout_must_be_a_positive_integer(customers, plan, timeout):  # S7
    page = TestPage.open("test-probe", "10000")
    with pytest.raises(InvalidTaskTimeout, match="is not a positive whole number"):
        probe(page).enqueue_background_task(catalogue.NOOP, timeout=timeout)
    assert page.tasks == []


def test_try_enqueue_returns_none_instead_of_raising(customers, plan):  # S7
    page = TestPage.open("test-probe", "10000")
    page.action("try_enqueue", codeunit=12345)
    page.action("try_enqueue", codeunit=catalogue.NOOP, parameters={"x": 1})
    page.action("try_enqueue", codeunit=catalogue.NOOP)
    assert probe(page).enqueued == [None, None, 1]


def test_cancel_returns_true_for_live_and_false_for_ended_or_unknown_tasks(customers, plan):  # S8
    plan({"codeunit_id": catalogue.NOOP}, {"codeunit_id": catalogue.NOOP})
    page = TestPage.open("test-probe", "10000")
    page.action("cancel", task_id=1)
    page.action("cancel", task_id=1)
    page.action("cancel", task_id=99)
    page.action("cancel", task_id="nonsense")
    page.run_tasks()
    page.action("cancel", task_id=2)
    assert probe(page).cancel_results == [True, False, False, False, False]


# Timeouts (S9, S10) ----------------------------------------------------------------


@override_settings(BCPAGES={"MAX_TIMEOUT_MS": 5_000, "DEFAULT_TIMEOUT_MS": 3_000})
def test_default_timeout_and_clamping_to_the_maximum(customers, plan):  # S9, S10
    page = TestPage.open("test-probe", "10000")
    probe(page).enqueue_background_task(catalogue.NOOP)
    probe(page).enqueue_background_task(catalogue.NOOP, timeout=1_000_000)
    assert [t.timeout_ms for t in page.session.queue.tasks.values()] == [3_000, 5_000]


def test_timeout_fails_the_task_with_child_session_task_timeout(customers, plan):  # S11
    plan({"codeunit_id": catalogue.SLEEP_MS, "parameters": {"ms": "5000"}, "timeout": 200})
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    [(_, error)] = probe(page).errors
    assert error.code == "ChildSessionTaskTimeout"
    assert error.text == "Child Session task was terminated because of a timeout."


# Queue (S12, S13) ------------------------------------------------------------------


def test_five_run_and_the_rest_wait_in_fifo_order(customers, plan):  # S12, S13
    plan(*[{"codeunit_id": catalogue.NOOP}] * 12)
    page = TestPage.open("test-probe", "10000")
    states = task_states(page)
    assert [states[i] for i in range(1, 13)] == ["running"] * 5 + ["queued"] * 7
    run = page._pending[2]  # task 3 ends first: task 6 starts, not a later one
    page._pending.remove(run)
    from tasks.child_session import run_sync

    page._do(page.session.task_outcome, run_sync(run))
    states = task_states(page)
    assert states[3] == "completed" and states[6] == "running" and states[7] == "queued"
    page.run_tasks()
    assert [tid for tid, _ in probe(page).completed] == [3, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12]


def test_the_106th_outstanding_task_fails_with_max_queue_length(customers, plan):  # S12
    page = TestPage.open("test-probe", "10000")
    for _ in range(105):
        probe(page).enqueue_background_task(catalogue.NOOP)
    with pytest.raises(ChildSessionsMaxQueueLength, match="5 tasks running and 100 waiting"):
        probe(page).enqueue_background_task(catalogue.NOOP)
    assert len(page.tasks) == 105


@override_settings(BCPAGES={"MAX_RUNNING": 2, "MAX_QUEUED": 3})
def test_queue_limits_are_settings(customers, plan):  # S12
    plan(*[{"codeunit_id": catalogue.NOOP}] * 5)
    page = TestPage.open("test-probe", "10000")
    assert list(task_states(page).values()) == ["running"] * 2 + ["queued"] * 3
    with pytest.raises(ChildSessionsMaxQueueLength):
        probe(page).enqueue_background_task(catalogue.NOOP)


# Cancellation on record change (S14, S15, S17) -------------------------------------


def test_navigation_cancels_every_task_before_the_new_records_triggers_run(customers, plan):  # S14
    plan(*[{"codeunit_id": catalogue.NOOP}] * 7)
    page = TestPage.open("test-probe", "10000")
    page.navigate("20000")
    cancelled = [f for f in page.frames if f["type"] == "task.state" and f["state"] == "cancelled"]
    assert [f["task_id"] for f in cancelled] == [1, 2, 3, 4, 5, 6, 7]
    assert all(f["record"] == "10000" for f in cancelled)
    first_new = next(i for i, f in enumerate(page.frames) if f["type"] == "task.state" and f["record"] == "20000")
    last_cancel = max(i for i, f in enumerate(page.frames) if f.get("state") == "cancelled")
    assert last_cancel < first_new


def test_closing_the_page_cancels_every_task(customers, plan):  # S15
    plan(*[{"codeunit_id": catalogue.NOOP}] * 7)
    page = TestPage.open("test-probe", "10000")
    page.close()
    assert {t.state for t in page.tasks} == {"cancelled"}


def test_no_result_reaches_the_page_for_another_record(customers, plan):  # S17
    plan({"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "for 10000"}})
    page = TestPage.open("test-probe", "10000")
    old_runs = list(page._runs)
    page.navigate("20000")
    from tasks.child_session import run_sync

    for run in old_runs:  # the worker finished them anyway
        page._do(page.session.task_outcome, run_sync(run))
    page.run_tasks()
    assert probe(page).trigger_records == ["20000"]
    updates = [f for f in page.frames if f["type"] == "field.update"]
    assert all(f["record"] == "20000" for f in updates)


def test_navigating_past_the_last_record_changes_nothing(customers, plan):
    plan({"codeunit_id": catalogue.NOOP})
    page = TestPage.open("test-probe", "30000")
    page.navigate(step="next")
    assert page.record == "30000"
    assert page.task(1).state == "running"


def test_unknown_record_and_page_are_frame_errors(customers):
    with pytest.raises(FrameError, match="Customer '99999' does not exist"):
        TestPage.open("test-probe", "99999")
    with pytest.raises(FrameError, match="Page 'nope' is not registered"):
        TestPage.open("nope", "10000")


# The watchdog (S25) -----------------------------------------------------------------


@pytest.fixture
def watched(customers, plan):
    """A parent session on a clock the test moves, with one task (timeout 300 ms)
    handed to the layer at t=1000 s; the layer would drop it unread after 60 s."""
    from bcpages.session import ParentSession

    clock = [1000.0]
    session = ParentSession(clock=lambda: clock[0], pickup_timeout_s=60.0)
    session.open("test-probe", "10000")
    session.invoke(lambda page: page.enqueue_background_task(catalogue.NOOP, timeout=300))
    session.drain()
    return session, clock, conf.get("LOST_GRACE_MS") / 1000


def lost_task(session, now):
    """What the watchdog failed at ``now``: (code, text) of task 1, or None."""
    session.check_deadlines(now)
    task = session.queue.tasks[1]
    return (task.error.code, task.error.text) if task.state == "failed" else None


def test_a_task_no_worker_takes_is_lost_when_the_layer_has_dropped_it_plus_the_grace(watched):  # S25
    session, _, grace = watched
    deadline = 1000.0 + 60.0 + grace
    assert session.next_deadline() == pytest.approx(deadline)
    assert lost_task(session, deadline - 0.001) is None  # a worker may still take it
    assert lost_task(session, deadline) == (LOST, "No worker picked up the task before the channel layer dropped it.")
    assert session.next_deadline() is None


def test_a_task_whose_worker_goes_silent_is_lost_at_its_timeout_plus_the_grace(watched):  # S25
    from tasks.messages import TaskStarted

    session, clock, grace = watched
    clock[0] = 1010.0  # a worker takes it 10 s later: queued time does not count (S9)
    session.task_started(TaskStarted(session.session_id, 1, "specific.worker!1"))
    deadline = 1010.0 + 0.300 + grace
    assert session.next_deadline() == pytest.approx(deadline)
    assert lost_task(session, deadline - 0.001) is None
    code, text = lost_task(session, deadline)
    assert code == LOST and "within the task's timeout (300 ms)" in text


def test_a_tasks_duration_counts_from_its_child_sessions_start(watched):  # S9
    from tasks.messages import TaskOutcome, TaskStarted

    session, clock, _ = watched
    clock[0] = 1003.0  # three seconds in the layer, waiting for a free child session
    session.task_started(TaskStarted(session.session_id, 1, "specific.worker!1"))
    clock[0] = 1003.25
    session.task_outcome(TaskOutcome(session.session_id, 1, "completed", worker_channel="specific.worker!1"))
    task = session.queue.tasks[1]
    assert (task.state, task.duration_ms) == ("completed", 250.0)


# Child sessions (S19-S22) -----------------------------------------------------------


def test_codeunit_returning_nothing_completes_with_an_empty_dict(customers, plan):  # S21
    plan({"codeunit_id": catalogue.RETURNS_NOTHING})
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    assert probe(page).completed == [(1, {})]


def test_code_can_ask_whether_it_runs_in_a_child_session(customers):  # S22
    from tasks import is_child_session

    page = TestPage.open("test-probe", "10000")
    assert page.run_page_background_task(catalogue.IS_CHILD_SESSION) == {"child_session": "True"}
    assert is_child_session() is False


# Error levels and the error trigger (S26-S29) -----------------------------------


@pytest.mark.parametrize(
    "level, handled, shown",
    [
        ("error", False, [("error", "bad value")]),
        ("warning", False, [("warning", "bad value")]),
        ("ignore", False, []),
        ("error", True, []),
        ("warning", True, []),
    ],
)
def test_error_level_and_handled_decide_what_the_user_sees(customers, plan, level, handled, shown):  # S26, S27
    plan({"codeunit_id": catalogue.RAISES_VALUE_ERROR, "error_level": level}, handle_errors=handled)
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    assert page.notifications == shown
    assert len(probe(page).errors) == 1


def test_unknown_error_level_fails_enqueue(customers):  # S26
    page = TestPage.open("test-probe", "10000")
    with pytest.raises(Exception, match="Error level 'loud' is not one of ignore, warning, error"):
        probe(page).enqueue_background_task(catalogue.NOOP, error_level="loud")


@pytest.mark.parametrize("handled", [False, True])
def test_every_failure_is_logged_even_when_handled_or_ignored(customers, plan, caplog, handled):  # S28
    plan({"codeunit_id": catalogue.RAISES_VALUE_ERROR, "error_level": "ignore"}, handle_errors=handled)
    page = TestPage.open("test-probe", "10000")
    with caplog.at_level(logging.WARNING, logger="bcpages"):
        page.run_tasks()
    [record] = [r for r in caplog.records if r.getMessage().startswith("task_failed")]
    message = record.getMessage()
    assert "task_id=1" in message and f"codeunit={catalogue.RAISES_VALUE_ERROR}" in message
    assert "code=ValueError" in message and "text='bad value'" in message and f"handled={handled}" in message


def test_exception_in_a_trigger_is_an_error_notification_and_the_page_keeps_working(customers):  # S29
    page = TestPage.open("test-failing-trigger", "10000")
    page.run_tasks()
    assert ("error", "RuntimeError: trigger blew up") in page.notifications
    assert page.fields["echo"] == "after"
    page.navigate("20000")
    page.run_tasks()
    assert page.record == "20000"


def test_fields_whose_completion_trigger_raised_show_failed_not_a_blank_value(customers, plan):  # S29, S33
    from tests.pages import ProbePage

    class Broken(ProbePage):
        name = "test-broken-completion"
        plan = [{"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "x"}}]

        def on_page_background_task_completed(self, task_id, results):
            raise KeyError("Echo2")

    page = TestPage.open("test-broken-completion", "10000")
    page.run_tasks()
    assert page.notifications == [("error", "KeyError: 'Echo2'")]
    assert (page.fields["echo"], page.field_states["echo"]) == ("", "failed")


def test_page_code_errors_carry_their_code(customers, plan):  # S29
    page = TestPage.open("test-probe", "10000")
    page.invoke(lambda p: p.enqueue_background_task(424242))
    assert page.notifications[-1] == ("error", "UnknownCodeunit: Codeunit 424242 is not registered.")


# What triggers may do (S30, S31) ----------------------------------------------------


def test_a_trigger_may_write_to_the_database_and_enqueue_again(customers, plan):  # S30
    from bcpages.demo.models import Customer

    class Writer(ProbePage):
        name = "test-writer"
        plan = [{"codeunit_id": catalogue.NOOP}]

        def on_page_background_task_completed(self, task_id, results):
            super().on_page_background_task_completed(task_id, results)
            Customer.objects.filter(no=self.rec.no).update(city=f"Visited {task_id}")
            if task_id < 3:
                self.enqueue_background_task(catalogue.NOOP)
                self.note = f"re-enqueued after {task_id}"

    page = TestPage.open("test-writer", "10000")
    page.run_tasks()
    assert [tid for tid, _ in page.session.page.completed] == [1, 2, 3]
    assert Customer.objects.get(no="10000").city == "Visited 3"
    assert page.fields["note"] == "re-enqueued after 2"


def test_a_dialog_from_a_trigger_fails_with_callback_ui_not_allowed(customers):  # S31
    page = TestPage.open("test-dialog-from-trigger", "10000")
    page.run_tasks()
    assert page.dialogs == []
    [(level, text)] = page.notifications
    assert level == "error" and "cannot be shown from a page background task trigger" in text


def test_an_action_may_show_a_dialog(customers):  # S31
    page = TestPage.open("test-probe", "10000")
    page.action("show_message", text="Posted.")
    assert page.dialogs == ["Posted."]


# Loading states (S33) -----------------------------------------------------------------


def test_task_fields_load_then_show_the_value_and_a_refresh_keeps_the_last_value(customers, plan):  # S33
    plan({"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "v1"}})
    page = TestPage.open("test-probe", "10000")
    assert page.fields["customer_name"] == "Adatum Corporation"  # at once
    assert page.field_states["echo"] == "loading"
    page.run_tasks()
    assert (page.fields["echo"], page.field_states["echo"]) == ("v1", "ok")
    page.refresh()
    assert (page.fields["echo"], page.field_states["echo"]) == ("v1", "loading")


def test_a_failed_task_marks_its_fields_failed(customers, plan):  # S33
    plan({"codeunit_id": catalogue.SLEEP_MS, "parameters": {"ms": "2000"}, "timeout": 100})
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    assert page.field_states["slept"] == "failed"


# The test API itself (S35) -------------------------------------------------------------


def test_run_page_background_task_returns_the_result_without_triggers(customers, plan):  # S35
    page = TestPage.open("test-probe", "10000")
    assert page.run_page_background_task(catalogue.ECHO_PARAMETERS, {"Echo": "x"}) == {"Echo": "x"}
    assert probe(page).completed == []
    assert page.run_page_background_task(catalogue.ECHO_PARAMETERS, {"Echo": "y"}, run_completion_triggers=True) == {"Echo": "y"}
    assert probe(page).completed[-1][1] == {"Echo": "y"}
    assert page.fields["echo"] == "y"
    with pytest.raises(TaskFailed, match="ValueError: bad value"):
        page.run_page_background_task(catalogue.RAISES_VALUE_ERROR)
