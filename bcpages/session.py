"""The parent session: one open page in one browser tab, as plain synchronous Python.

It owns the page object, its current record, its fields and its task queue, and
applies the rules of PBT-SPEC.md. It does no I/O: every call leaves *effects* in
``outbox`` for its driver to carry out:

    ("frame", dict)                        a frame for the browser (bcpages.frames)
    ("run", TaskRun)                       send to the task channel
    ("cancel", worker_channel, TaskCancel) send to the worker running the task
                                           (None: to every worker, WORKERS_GROUP)
    ("heartbeat", worker_channel, TaskHeartbeat)  send to a worker running tasks of
                                           this page (``keep_alive``, liveness)

Drivers: ``bcpages.consumer.PageConsumer`` (the websocket, asynchronous tasks),
``bcpages.synchronous`` (the JSON page API) and ``tasks.testing.TestPage``.
Every call must come from one thread at a time; the consumer guarantees it (S3).
Page code runs inside these calls, so they may touch the database: call them
from a thread (``bcpages.page_thread``), never from the event loop.
"""

import inspect
import logging
import time
import uuid

from bcpages import frames
from bcpages.fields import FAILED, LOADING, OK
from bcpages.frames import FrameError
from bcpages.pages import PageNotAllowed, UnknownPage, UnknownRecord, get_page_class
from tasks import conf, metrics, settings_cache, tasklog
from tasks.bindings import PageBindings
from tasks.codeunits import check_enabled, get_codeunit
from tasks.errors import PageBackgroundTaskError
from tasks.messages import COMPLETED, FAILED as TASK_FAILED, TaskCancel, TaskHeartbeat
from tasks.queue import TaskQueue
from tasks.values import effective_timeout, validate_error_level, validate_parameters

logger = logging.getLogger("bcpages")
NOTIFICATION_LEVELS = ("info", "warning", "error")
#: What ``_trigger`` returns when page code raised (None is a valid return value).
_RAISED = object()


class ParentSession:
    def __init__(
        self, session_id=None, reply_channel="", *, user=None, clock=time.monotonic, pickup_timeout_s=60.0, heartbeat_ms=0
    ):
        self.session_id = session_id or uuid.uuid4().hex
        self.reply_channel = reply_channel
        self.user = user
        # heartbeat_ms > 0: the driver calls keep_alive() that often while tasks run.
        self.queue = TaskQueue(self.session_id, clock=clock, pickup_timeout_s=pickup_timeout_s, heartbeat_ms=heartbeat_ms)
        self.page = None
        self.record = ""
        self.outbox = []
        self.in_task_trigger = False
        # Tasks enqueued from a completion or error trigger (the synchronous driver
        # does not chase those: an auto-refresh would never end).
        self.enqueued_by_task_triggers = set()
        self.closed = False
        self._sent_values = {}
        self._sent_states = {}
        #: Every task whose state changed since the last ``drain`` (for the task log).
        self.changed_tasks = []
        #: Administrators' bindings of the open page (tasks.bindings), loaded on open.
        self.bindings = PageBindings()

    # Driver side -------------------------------------------------------------
    def drain(self):
        effects, self.outbox = self.outbox, []
        return effects

    def open(self, page_name, record_key):
        if self.closed:
            raise FrameError(frames.PAGE_CLOSED, f"This connection's page was closed; open a new connection to open page {page_name!r}.")
        if self.page is not None:
            raise FrameError(frames.PAGE_ALREADY_OPEN, f"This connection already shows page {self.page.name!r}; open another socket for another page.")
        try:
            page_class = get_page_class(page_name)
        except UnknownPage as exc:
            raise FrameError(frames.UNKNOWN_PAGE, str(exc)) from None
        try:
            page_class.check_access(self.user)
        except PageNotAllowed as exc:
            raise FrameError(exc.code, exc.text) from None
        record = self._find(page_class, record_key)
        self.page = page_class(self)
        self.bindings = PageBindings.attach(self.page)
        self._show(record)
        opened = len(self.outbox)
        self._trigger(self.page.on_open_page)
        self._after_get_record(state_at=opened)

    def navigate(self, record_key=None, step=None):
        page = self._require_page()
        if step is not None:
            if page.rec is None:
                raise FrameError(frames.NAVIGATION_NOT_ALLOWED, f"Page {page.name!r} has no record to step from.")
            record_key = type(page).step_record(page.rec, step)
            if record_key is None or record_key == self.record:
                return  # already on the first or last record: nothing changes
        record = self._find(type(page), record_key)
        # S14: every task of the old record ends before the new record's triggers run.
        self._cancel_all()
        self._show(record)
        self._after_get_record()

    def refresh(self):
        self._require_page()
        mark = len(self.outbox)
        self._trigger(self.page.on_after_get_curr_record)
        self.bindings.enqueue(self)
        self._admit()
        self._send_field_changes(at=mark)

    def action(self, name, args):
        page = self._require_page()
        if name not in page.actions:
            known = ", ".join(sorted(page.actions)) or "none"
            raise FrameError(frames.UNKNOWN_ACTION, f"Page {page.name!r} has no action {name!r}; its actions: {known}.")
        method = getattr(page, name)
        try:
            inspect.signature(method).bind(**args)
        except TypeError as exc:
            raise FrameError(frames.INVALID_ACTION_ARGS, f"Action {name!r} cannot take arguments {sorted(args)}: {exc}.") from None
        self.invoke(lambda page: method(**args))

    def invoke(self, function):
        """Run ``function(page)`` as page code (an action, or a test's own code)."""
        self._require_page()
        mark = len(self.outbox)
        self._trigger(function, self.page)
        self._admit()
        self._send_field_changes(at=mark)

    def close_page(self):
        """The browser's ``page.close``: like ``close``, but only for an open page."""
        if self.closed:
            raise FrameError(frames.PAGE_CLOSED, "This connection's page is closed already.")
        self._require_page()
        self.close()

    def close(self):
        """S15: the page closed or its connection is gone; cancel everything."""
        if self.closed:
            return
        self._cancel_all()
        self.closed = True
        tasklog.session_closed()

    def task_started(self, started):
        if self.closed or started.session_id != self.session_id:
            return
        answer = self.queue.started(started.task_id, started.worker_channel)
        if isinstance(answer, TaskCancel):
            # Cancelled while the message was in the layer: stop it now (S16).
            self.outbox.append(("cancel", started.worker_channel, answer))

    def task_outcome(self, outcome):
        if self.closed or outcome.session_id != self.session_id:
            return
        task = self.queue.finish(outcome)
        if task is None:
            logger.debug("late_result_dropped session=%s task_id=%s", self.session_id, outcome.task_id)
            metrics.late_outcome_dropped(outcome.state)
            return
        self._ended(task)

    def check_deadlines(self, now=None):
        """The watchdog (S25): fail tasks whose worker never answered."""
        for task in self.queue.expire(now):
            self._ended(task)

    def lose(self, task_id, text):
        """A task's message could not be sent (layer full or down)."""
        task = self.queue.lose(task_id, text)
        if task is not None and task.error is not None:
            self._ended(task)

    def next_deadline(self):
        return self.queue.next_deadline()

    def keep_alive(self):
        """Liveness: one ``task.heartbeat`` to each worker running tasks of this page.

        The driver calls it every ``heartbeat_ms`` while ``running_on_workers()``;
        a worker cancels a task it has not heard of for a few intervals (its page's
        process is gone). No page code runs: safe to call from the event loop.
        """
        if self.closed:
            return
        for worker_channel, task_ids in self.queue.heartbeats().items():
            self.outbox.append(("heartbeat", worker_channel, TaskHeartbeat(self.session_id, tuple(task_ids))))

    def running_on_workers(self):
        """True while a worker has reported running a task of this page."""
        return not self.closed and bool(self.queue.heartbeats())

    def layer_lost(self, text):
        """The channel layer is unreachable: no outcome can arrive any more.

        Every running task fails as lost at once (its error trigger runs, the user
        is told, S25), then the page closes (S15): the driver ends the connection.
        """
        if self.closed:
            return
        for task in self.queue.running():
            lost = self.queue.lose(task.task_id, text)
            if lost is not None:
                self._ended(lost)
        self.close()

    # Page side (called through the Page verbs) --------------------------------
    def enqueue(self, page, codeunit_id, parameters, timeout, error_level, raise_errors=True):
        try:
            unit = get_codeunit(codeunit_id)
            check_enabled(unit)
            parameters = validate_parameters(parameters)
            # What page code left out, the administrator's defaults for the codeunit fill in.
            timeout, error_level = settings_cache.apply_defaults(unit.id, timeout, error_level)
            timeout_ms = effective_timeout(timeout)
            validate_error_level(error_level)
            task = self.queue.enqueue(
                codeunit_id=unit.id,
                codeunit_name=unit.name,
                parameters=parameters,
                timeout_ms=timeout_ms,
                error_level=error_level,
                record=self.record,
            )
        except PageBackgroundTaskError as exc:
            logger.info("enqueue_refused session=%s codeunit=%r code=%s text=%r", self.session_id, codeunit_id, exc.code, exc.text)
            self._mark_fields(codeunit_id, FAILED)
            if raise_errors:
                raise
            return None
        if self.in_task_trigger:
            self.enqueued_by_task_triggers.add(task.task_id)
        self._mark_fields(task.codeunit_id, LOADING)
        self._task_changed(task)
        return task.task_id

    def cancel(self, task_id):
        done, task = self.queue.cancel(task_id)
        if done:
            self._cancelled(task)
            self._settle_fields(task.codeunit_id, OK)
        return done

    def notify(self, level, text, task_id=None):
        if level not in NOTIFICATION_LEVELS:
            raise ValueError(f"Notification level {level!r} is not one of {', '.join(NOTIFICATION_LEVELS)}.")
        self.outbox.append(("frame", frames.notification(level, text, task_id)))

    def dialog(self, text):
        self.outbox.append(("frame", frames.dialog(text)))

    # Internals -----------------------------------------------------------------
    def _require_page(self):
        if self.closed:
            raise FrameError(frames.PAGE_CLOSED, "This connection's page was closed; open a new connection for another page.")
        if self.page is None:
            raise FrameError(frames.PAGE_NOT_OPEN, "No page is open on this connection; send 'page.open' first.")
        return self.page

    def _find(self, page_class, record_key):
        try:
            return page_class.get_record(record_key)
        except UnknownRecord as exc:
            raise FrameError(frames.UNKNOWN_RECORD, str(exc)) from None

    def _show(self, record):
        """Make ``record`` current: record fields at once, task fields empty."""
        page = self.page
        page.rec = record
        self.record = type(page).record_key(record) if record is not None else ""
        for name, field in page.fields.items():
            if field.source:
                page._values[name] = field.read(record) if record is not None else ""
            elif field.codeunit is not None:
                page._values[name] = ""
            page._states[name] = OK

    def _after_get_record(self, state_at=None):
        """Run ``on_after_get_curr_record`` for the new current record, then put its
        ``page.state`` ahead of the frames of the tasks the triggers enqueued (at
        ``state_at`` in the outbox, default: here), so that a client knows the
        record before it hears of its tasks."""
        state_at = len(self.outbox) if state_at is None else state_at
        self._trigger(self.page.on_after_get_curr_record)
        self.bindings.enqueue(self)
        self._admit()
        page = self.page
        values, states = page.field_values(), page.field_states()
        self._sent_values, self._sent_states = dict(values), dict(states)
        self.outbox.insert(
            state_at,
            ("frame", frames.page_state(
                page.name, self.record, values, states, type(page).record_url(self.record), page.caption, self.session_id
            )),
        )

    def _admit(self):
        for run in self.queue.admit(self.reply_channel):
            self._task_changed(self.queue.tasks[run.task_id])
            self.outbox.append(("run", run))

    def _cancel_all(self):
        cancelled = self.queue.cancel_all()
        for task in cancelled:
            self._cancelled(task)
        # Fields keep their last value and leave "loading", as with one cancel.
        for codeunit_id in {task.codeunit_id for task in cancelled}:
            self._settle_fields(codeunit_id, OK)

    def _cancelled(self, task):
        self._task_changed(task)
        if task.started_at is None:
            return  # never left this session's queue
        # A task handed to the layer but not yet reported by a worker: every worker
        # hears the cancel (worker_channel None) and drops the run when it arrives.
        self.outbox.append(("cancel", task.worker_channel, TaskCancel(self.session_id, task.task_id)))

    def _ended(self, task):
        """Run the trigger for a task that completed or failed (S2), then admit more."""
        self._task_changed(task)
        page = self.page
        if page is None or task.record != self.record:  # S17: belt and braces
            return
        page._assigned.clear()
        # A binding's task goes to its binding: page code does not know these tasks.
        binding = self.bindings.take(task.task_id)
        if task.state == COMPLETED:
            if binding is not None:
                self.bindings.complete(page, binding, task.results)
                settled = OK
            else:
                raised = self._trigger(page.on_page_background_task_completed, task.task_id, dict(task.results), task_trigger=True) is _RAISED
                # Fields the trigger did not set before it raised show failed, not a blank "ok".
                settled = FAILED if raised else OK
            self._settle_fields(task.codeunit_id, settled)
        elif task.state == TASK_FAILED:
            handled = None
            if binding is None:
                handled = self._trigger(page.on_page_background_task_error, task.task_id, task.error, task_trigger=True)
                handled = handled if handled is not _RAISED else None
            self._report_failure(task, handled is True)
            self._settle_fields(task.codeunit_id, FAILED)
        self._admit()
        self._send_field_changes()

    def _report_failure(self, task, handled):
        error = task.error
        # S28: every failure is logged, handled or not.
        logger.warning(
            "task_failed session=%s task_id=%s codeunit=%s code=%s text=%r error_level=%s handled=%s",
            self.session_id, task.task_id, task.codeunit_id, error.code, error.text, task.error_level, handled,
        )
        if handled or task.error_level == "ignore":
            return
        self.notify(task.error_level, error.text, task.task_id)

    def _trigger(self, method, *args, task_trigger=False, **kwargs):
        """Run page code; an exception becomes an error notification (S29)."""
        self.in_task_trigger = task_trigger
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            code = getattr(exc, "code", None) or type(exc).__name__
            text = getattr(exc, "text", None) or str(exc)
            logger.exception("trigger_failed session=%s page=%s trigger=%s code=%s", self.session_id, self.page.name, method.__name__, code)
            # The code first, so that "KeyError: 'CustomerNo'" says what went wrong.
            self.outbox.append(("frame", frames.notification("error", f"{code}: {text}" if text else code)))
            return _RAISED
        finally:
            self.in_task_trigger = False

    def _mark_fields(self, codeunit_id, state):
        if self.page is None:
            return
        for name, field in self.page.fields.items():
            if field.codeunit == codeunit_id:
                self.page._states[name] = state

    def _settle_fields(self, codeunit_id, state):
        """A task of ``codeunit_id`` ended: its fields leave ``loading`` once none is live."""
        page = self.page
        if page is None or any(t.codeunit_id == codeunit_id for t in self.queue.live()):
            return
        for name, field in page.fields.items():
            if field.codeunit == codeunit_id:
                page._states[name] = OK if (state == OK or name in page._assigned) else FAILED

    def _send_field_changes(self, at=None):
        """Send the fields that changed since the last frame, as one ``field.update``;
        ``at``: its place in the outbox (ahead of the task frames of the same call,
        so that a field shows loading before its task is reported running)."""
        page = self.page
        if page is None:
            return
        values, states = page.field_values(), page.field_states()
        changed = [name for name in values if values[name] != self._sent_values.get(name) or states[name] != self._sent_states.get(name)]
        if not changed:
            return
        for name in changed:
            self._sent_values[name], self._sent_states[name] = values[name], states[name]
        update = ("frame", frames.field_update(self.record, {n: values[n] for n in changed}, {n: states[n] for n in changed}))
        self.outbox.insert(len(self.outbox) if at is None else at, update)

    def _task_changed(self, task):
        self.changed_tasks.append(task)
        self.outbox.append(("frame", frames.task_state(task)))
        if not task.live:
            # S36: buffered, never written here (tasks.tasklog).
            tasklog.record(self, task)
            metrics.task_ended(task)

