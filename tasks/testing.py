"""The test API (S35): drive pages and run codeunits from a Django test suite.

``TestPage`` opens a page on a record without a browser or a websocket, exactly
as the parent session would, and runs its background tasks in real child sessions
(read-only, with their timeouts) when you ask it to::

    from tasks.testing import TestPage

    @pytest.mark.django_db(transaction=True)
    def test_card_shows_balance():
        page = TestPage.open("customer-card", "10000")
        assert page.field_states["balance"] == "loading"
        page.run_tasks()                      # run every task and its trigger
        assert page.fields["balance"] == "350.50"
        page.navigate(step="next")            # cancels what is pending (S14)

Child sessions open their own database connections, so the data they read must be
committed: use ``django_db(transaction=True)`` (or ``TransactionTestCase``).
"""

import time
from dataclasses import dataclass

from tasks.child_session import run_sync
from tasks.errors import TaskError
from tasks.messages import COMPLETED, TaskRun


class TaskFailed(AssertionError):
    """A codeunit run by ``run_page_background_task`` failed; ``error`` says how."""

    def __init__(self, error: TaskError):
        super().__init__(f"{error.code}: {error.text}")
        self.error = error


@dataclass(frozen=True)
class TaskSnapshot:
    task_id: int
    codeunit: int
    record: str
    state: str
    code: str | None
    text: str | None
    results: dict


class TestPage:
    """One open page, driven by a test. Build it with ``TestPage.open``."""

    __test__ = False  # not a pytest test class

    def __init__(self, session):
        self.session = session
        self.frames = []
        self._runs = []  # tasks handed to "the layer", waiting for run_tasks

    @classmethod
    def open(cls, page_name, record="", *, user=None):
        """Open ``page_name`` on ``record``: runs ``on_open_page`` and
        ``on_after_get_curr_record``; enqueued tasks wait for ``run_tasks``."""
        from bcpages.session import ParentSession

        page = cls(ParentSession(user=user))
        page._do(page.session.open, page_name, record)
        return page

    # What the browser would do ---------------------------------------------
    def navigate(self, record=None, *, step=None):
        self._do(self.session.navigate, record, step)

    def refresh(self):
        self._do(self.session.refresh)

    def action(self, name, **args):
        self._do(self.session.action, name, args)

    def invoke(self, function):
        """Run ``function(page)`` as page code, e.g. ``page.invoke(lambda p: p.enqueue_background_task(50100))``;
        returns what it returned."""
        box = []
        self._do(self.session.invoke, lambda page: box.append(function(page)))
        return box[0] if box else None

    def close(self):
        self._do(self.session.close)

    # What the worker would do ------------------------------------------------
    def run_tasks(self, timeout=60.0):
        """Run every queued and running task in a child session and its trigger, in
        order, until none is live; tasks that triggers enqueue run too. Fails after
        ``timeout`` seconds with the tasks still live."""
        deadline = time.monotonic() + timeout
        while self._pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"Tasks still live after {timeout} s: {[t.task_id for t in self.session.queue.live()]}")
            self.run_task()

    def run_task(self, task_id=None):
        """Run one running task (the oldest, or ``task_id``) in a child session and its
        trigger; returns its task id. For pages whose tasks re-enqueue themselves."""
        pending = self._pending
        run = pending[0] if task_id is None else next((r for r in pending if r.task_id == task_id), None)
        if run is None:
            raise AssertionError(f"Task {task_id} is not running; running: {[r.task_id for r in pending]}.")
        pending.remove(run)
        self._do(self.session.task_outcome, run_sync(run))
        return run.task_id

    def run_page_background_task(self, codeunit_id, parameters=None, run_completion_triggers=False, timeout=None):
        """Run codeunit ``codeunit_id`` as a child session would and return its result
        dict (Business Central's ``TestPage.RunPageBackgroundTask``). With
        ``run_completion_triggers`` the page's completion (or error) trigger runs too.
        Raises TaskFailed when the codeunit fails."""
        from tasks.codeunits import check_enabled, get_codeunit
        from tasks.values import effective_timeout, validate_parameters

        if not run_completion_triggers:
            unit = check_enabled(get_codeunit(codeunit_id))
            run = TaskRun(self.session.session_id, 0, unit.id, validate_parameters(parameters), effective_timeout(timeout))
            outcome = run_sync(run)
        else:
            task_id = self.invoke(lambda page: page.enqueue_background_task(codeunit_id, parameters, timeout))
            run = next(r for r in self._pending if r.task_id == task_id)
            self._pending.remove(run)
            outcome = run_sync(run)
            self._do(self.session.task_outcome, outcome)
        if outcome.state != COMPLETED:
            raise TaskFailed(outcome.error)
        return dict(outcome.results)

    # What a test looks at ----------------------------------------------------
    @property
    def record(self):
        return self.session.record

    @property
    def fields(self):
        return self.session.page.field_values()

    @property
    def field_states(self):
        return self.session.page.field_states()

    @property
    def tasks(self):
        return [
            TaskSnapshot(t.task_id, t.codeunit_id, t.record, t.state,
                         t.error.code if t.error else None, t.error.text if t.error else None, dict(t.results))
            for t in sorted(self.session.queue.tasks.values(), key=lambda t: t.task_id)
        ]

    def task(self, task_id):
        return next(t for t in self.tasks if t.task_id == task_id)

    @property
    def notifications(self):
        return [(f["level"], f["text"]) for f in self.frames if f["type"] == "notification"]

    @property
    def dialogs(self):
        return [f["text"] for f in self.frames if f["type"] == "dialog"]

    # ------------------------------------------------------------------------
    @property
    def _pending(self):
        """Runs whose task is still live (cancelled ones are dropped, as a worker would)."""
        live = {t.task_id for t in self.session.queue.live()}
        self._runs[:] = [run for run in self._runs if run.task_id in live]
        return self._runs

    def _do(self, method, *args):
        try:
            method(*args)
        finally:
            for effect in self.session.drain():
                if effect[0] == "frame":
                    self.frames.append(effect[1])
                elif effect[0] == "run":
                    self._pending.append(effect[1])
