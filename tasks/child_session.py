"""Child sessions: where a codeunit runs, isolated from its page (S11, S16, S18-S25).

``execute(run)`` is the one place a codeunit is called: read-only, parameters in,
a checked ``dict[str, str]`` out, every exception turned into a TaskError.

``ChildSessionPool`` runs ``execute`` in pre-started child processes
(``tasks.child_process``), one task at a time per process, with the task's
timeout; cancelling the awaiting asyncio task stops the codeunit. ``run_sync``
does the same for synchronous callers (the JSON page API and the test API), so
a write fails there exactly as in the browser.

How a run ends, as the page sees it:

- the codeunit returns: ``completed`` with its results (S21), or ``failed`` with
  InvalidTaskResult (not a ``dict[str, str]``, or too big for the channel layer);
- it raises: ``failed`` with the exception's code, text and stack (S23); a write
  fails with ChildSessionReadOnly (S18), refused by the database itself;
- it outlives its timeout: stopped, ``failed`` with ChildSessionTaskTimeout (S11);
- it is cancelled: stopped, and the awaiting task gets CancelledError;
- its process dies (``os._exit``, a signal, a segfault, the memory limit):
  ``failed`` with ChildSessionCrashed saying how (S24), and a new process takes
  its place.

"Stopped" means (S16): the codeunit is asked to stop (ChildStop is raised in
it, its query is interrupted); if it has not within ``CANCEL_GRACE_MS`` its
process group is killed, its PostgreSQL backends are ended, and a new process
is started. Either way the slot serves the next task.
"""

import asyncio
import atexit
import itertools
import logging
import os
import threading
import time
import traceback
import weakref

from django.db import close_old_connections, connections

from tasks import conf
from tasks.child_database import terminate_backends
from tasks.child_process import ChildGone, ChildProcess
from tasks.codeunits import get_codeunit, registered_codeunits
from tasks.errors import (
    CRASHED,
    LOST,
    TASK_TIMEOUT,
    TIMEOUT_TEXT,
    InvalidTaskResult,
    PageBackgroundTaskError,
    TaskError,
)
from tasks.messages import COMPLETED, FAILED, TaskOutcome, TaskRun
from tasks.readonly import database_refusal, read_only
from tasks.values import validate_results

logger = logging.getLogger("tasks")

#: The channel layer carries messages of about 1 MB; the rest of a
#: ``task.outcome`` (ids, state, framing) needs a little room.
MAX_RESULT_BYTES = 960_000
# An error crosses back as text: a codeunit's 50 MB exception message must not.
_MAX_ERROR_TEXT = 16 * 1024
_MAX_CALL_STACK = 64 * 1024
# A child that outlives its timeout by this much kills itself (the parent is gone).
_SELF_DESTRUCT_MARGIN_S = 5.0


def execute(run):
    """Run ``run``'s codeunit in this process as a child session; return its outcome.

    Called in a child process by the pool; in-process only by benchmarks and
    tests that compare against it.
    """
    started = time.monotonic()
    close_old_connections()
    guard = None
    try:
        unit = get_codeunit(run.codeunit_id)
        with read_only() as guard:
            returned = unit.function(dict(run.parameters))
        refused = guard.first_violation()
        if refused is not None:
            raise refused  # S18: also when the codeunit caught it and carried on
        outcome = dict(state=COMPLETED, results=_checked_results(run, returned))
    except BaseException as exc:  # a codeunit's SystemExit must not stop the worker
        refused = guard.first_violation() if guard is not None else None
        outcome = dict(state=FAILED, error=error_from_exception(refused or database_refusal(exc) or exc))
    finally:
        close_old_connections()
    return TaskOutcome(run.session_id, run.task_id, duration_ms=_ms_since(started), **outcome)


def error_from_exception(exc):
    """S23: the exception's ``code`` attribute or class name, its text, its stack."""
    code = getattr(exc, "code", None)
    if not isinstance(code, str) or not code:
        code = type(exc).__name__
    text = exc.text if isinstance(exc, PageBackgroundTaskError) else (str(exc) or code)
    return TaskError(code, _truncate(text, _MAX_ERROR_TEXT), _truncate("".join(traceback.format_exception(exc)), _MAX_CALL_STACK))


def _truncate(text, limit):
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit:,} more characters)"


def _checked_results(run, returned):
    """S6, S21: a dict of str to str that fits in one channel layer message."""
    results = validate_results(returned)
    rough = sum(len(key) + len(value) for key, value in results.items())
    size = rough if rough > MAX_RESULT_BYTES else sum(
        len(key.encode("utf-8", "surrogatepass")) + len(value.encode("utf-8", "surrogatepass"))
        for key, value in results.items()
    )
    if size > MAX_RESULT_BYTES:
        raise InvalidTaskResult(
            f"The result of codeunit {run.codeunit_id} is {size:,} bytes; a result may be at most "
            f"{MAX_RESULT_BYTES:,} bytes, the channel layer's message limit. Return less, or a key to data kept elsewhere."
        )
    return results


def timeout_outcome(run, duration_ms):
    return TaskOutcome(run.session_id, run.task_id, FAILED, error=TaskError(TASK_TIMEOUT, TIMEOUT_TEXT), duration_ms=duration_ms)


def _failed(run, code, text, started):
    return TaskOutcome(run.session_id, run.task_id, FAILED, error=TaskError(code, text), duration_ms=_ms_since(started))


def _ms_since(started):
    return round((time.monotonic() - started) * 1000, 3)


def _run_in_child(task):
    """The child process's side of a run: TaskRun message in, reply message out."""
    run = TaskRun.from_message(task)
    outcome = execute(run)
    if outcome.error is not None and outcome.error.code == "MemoryError":
        # Its heap may be in pieces: this process retires after saying so (S24).
        limit = conf.get("CHILD_MEMORY_LIMIT_MB")
        error = TaskError(
            CRASHED,
            f"The child session running codeunit {run.codeunit_id} ran out of memory: it may use at most "
            f"{limit} MiB (BCPAGES['CHILD_MEMORY_LIMIT_MB']).",
            outcome.error.call_stack,
        )
        outcome = TaskOutcome(run.session_id, run.task_id, FAILED, error=error, duration_ms=outcome.duration_ms)
        return {"op": "outcome", "outcome": outcome.message(), "retire": True}
    return {"op": "outcome", "outcome": outcome.message(), "retire": False}


def _fingerprint():
    """What a child copies from its parent at fork and must still match at checkout.

    The database a child reads (tests switch NAME to the test database), the
    memory limit, the registered codeunits, and how database access is patched
    (pytest-django blocks it outside ``django_db`` tests by replacing
    ``ensure_connection``).
    """
    from django.db.backends.base.base import BaseDatabaseWrapper

    databases = tuple(
        (alias, str(entry.get("ENGINE")), str(entry.get("NAME")), str(entry.get("HOST")), str(entry.get("PORT")),
         str(entry.get("USER")), str(entry.get("CHILD_SESSION_USER")))
        for alias, entry in connections.settings.items()
    )
    return (databases, conf.get("CHILD_MEMORY_LIMIT_MB"), len(registered_codeunits()), BaseDatabaseWrapper.ensure_connection)


_pools = weakref.WeakSet()


class ChildSessionPool:
    """Runs codeunits for one worker in ``size`` pre-started child processes.

    Runs in: the worker's event loop (``run``) or the caller's thread
    (``run_sync``); ``close`` from anywhere. One task at a time per process;
    when more runs arrive than there are processes, extra ones are started and
    end after their run.
    """

    def __init__(self, size):
        self.size = size
        self._owner = os.getpid()
        self._lock = threading.Lock()
        self._idle = []
        self._busy = set()
        self._closed = False
        self._seq = itertools.count(1)
        _pools.add(self)
        fingerprint = _fingerprint()
        for _ in range(size):
            self._idle.append(self._start(fingerprint))

    def pids(self):
        """Process ids of the live children (idle and busy), for monitoring and tests."""
        with self._lock:
            return [child.pid for child in [*self._idle, *self._busy] if child.status is None]

    # The asyncio side

    async def run(self, run):
        """The outcome of ``run``. A timeout stops the codeunit and fails it (S11).
        Cancelling the awaiting asyncio task stops the codeunit, then re-raises."""
        started = time.monotonic()
        try:
            child = self._checkout()
            child.send(self._run_message(child, run))
        except (ChildGone, OSError) as exc:
            return self._could_not_start(run, started, exc)
        deadline = started + run.timeout_ms / 1000
        try:
            reply = await self._areply(child, deadline)
        except asyncio.CancelledError:
            await self._astop(child, run, "cancel")
            raise
        except ChildGone as gone:
            await self._aended(child)
            backends = child.backends
            outcome = self._crashed(child, run, gone, started)
            await _aterminate(backends)
            return outcome
        except BaseException:
            self._discard(child)
            raise
        if reply is None:
            await self._astop(child, run, "timeout")
            return timeout_outcome(run, _ms_since(started))
        return self._finish(child, run, reply, started)

    async def _areply(self, child, deadline):
        while True:
            reply = self._take_reply(child)
            if reply is not None:
                return reply
            if not await _readable(child.wait_fds(), deadline):
                return None

    async def _astop(self, child, run, reason):
        """Stop the codeunit: ask, wait CANCEL_GRACE_MS, then kill and replace (S16)."""
        started = time.monotonic()
        try:
            child.ask_to_stop(child.seq)
            try:
                reply = await self._areply(child, started + conf.get("CANCEL_GRACE_MS") / 1000)
            except ChildGone:
                reply = None
        except BaseException:  # cancelled again while waiting: no more grace
            self._discard(child)
            raise
        if reply is not None:
            self._stopped(child, run, reason, started)
            return
        backends = self._killed(child, run, reason, started)
        await _aterminate(backends)
        self._replace()

    async def _aended(self, child):
        """After its socket closed: give the process a moment to be reaped."""
        deadline = time.monotonic() + conf.get("CANCEL_GRACE_MS") / 1000
        while not child.exited() and child.pidfd is not None:
            if not await _readable((child.pidfd,), deadline):
                break

    # The synchronous side

    def run_sync(self, run):
        """``run`` from synchronous code, in this thread, with the same rules as ``run``."""
        started = time.monotonic()
        try:
            child = self._checkout()
            child.send(self._run_message(child, run))
        except (ChildGone, OSError) as exc:
            return self._could_not_start(run, started, exc)
        deadline = started + run.timeout_ms / 1000
        try:
            reply = self._reply(child, deadline)
        except ChildGone as gone:
            self._ended(child)
            backends = child.backends
            outcome = self._crashed(child, run, gone, started)
            terminate_backends(backends)
            return outcome
        except BaseException:
            self._discard(child)
            raise
        if reply is None:
            self._stop(child, run, "timeout")
            return timeout_outcome(run, _ms_since(started))
        return self._finish(child, run, reply, started)

    def _reply(self, child, deadline):
        while True:
            reply = self._take_reply(child)
            if reply is not None:
                return reply
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            child.wait_readable(remaining)

    def _stop(self, child, run, reason):
        started = time.monotonic()
        try:
            child.ask_to_stop(child.seq)
            try:
                reply = self._reply(child, started + conf.get("CANCEL_GRACE_MS") / 1000)
            except ChildGone:
                reply = None
        except BaseException:
            self._discard(child)
            raise
        if reply is not None:
            self._stopped(child, run, reason, started)
            return
        terminate_backends(self._killed(child, run, reason, started))
        self._replace()

    def _ended(self, child):
        """After its socket closed: give the process a moment to be reaped."""
        child.wait_exit(conf.get("CANCEL_GRACE_MS") / 1000)

    # Shared by both sides

    def _run_message(self, child, run):
        child_timeout = run.timeout_ms / 1000 + conf.get("CANCEL_GRACE_MS") / 1000 + _SELF_DESTRUCT_MARGIN_S
        child.seq = next(self._seq)
        return {"op": "run", "seq": child.seq, "task": run.message(), "self_destruct_s": child_timeout}

    def _take_reply(self, child):
        """The child's reply to its run if it has come; notes the backends it reported."""
        for message in child.receive():
            op = message.get("op")
            if op == "backend":
                try:
                    child.backends.setdefault(str(message["alias"]), set()).add(int(message["pid"]))
                except (KeyError, TypeError, ValueError):
                    raise ChildGone(f"sent a malformed message {message!r:.200}") from None
            elif op in ("outcome", "stopped"):
                return message
        return None

    def _finish(self, child, run, reply, started):
        if reply.get("op") != "outcome":
            self._discard(child)
            self._replace()
            return _failed(run, LOST, f"The child session running codeunit {run.codeunit_id} gave no outcome.", started)
        try:
            outcome = TaskOutcome.from_message(reply["outcome"])
        except (KeyError, TypeError, ValueError) as exc:
            self._discard(child)
            self._replace()
            return _failed(run, LOST, f"The child session running codeunit {run.codeunit_id} sent an unreadable outcome: {exc}.", started)
        if reply.get("retire"):
            self._ended(child)
            logger.warning("child_session_crashed pid=%s codeunit=%s session=%s task_id=%s how=%r",
                           child.pid, run.codeunit_id, run.session_id, run.task_id, outcome.error.text if outcome.error else "")
            self._discard(child)
            self._replace()
        else:
            self._checkin(child)
        # The child echoes the ids; the run's own are the ones that count.
        return TaskOutcome(run.session_id, run.task_id, outcome.state, outcome.results, outcome.error, outcome.duration_ms)

    def _stopped(self, child, run, reason, started):
        self._checkin(child)
        logger.info("child_session_stopped pid=%s codeunit=%s task_id=%s reason=%s ms=%s",
                    child.pid, run.codeunit_id, run.task_id, reason, _ms_since(started))

    def _killed(self, child, run, reason, started):
        """Kill a child that did not stop in time; returns the backends to end."""
        backends = child.backends
        self._discard(child)
        logger.warning("child_session_killed pid=%s codeunit=%s task_id=%s reason=%s ms=%s",
                       child.pid, run.codeunit_id, run.task_id, reason, _ms_since(started))
        return backends

    def _crashed(self, child, run, gone, started):
        """The outcome of a run whose process ended under it (S24); replaces the process."""
        closed = self._closed
        how = child.how_it_ended() if child.exited() else f"{gone}, and was killed"
        self._discard(child)
        if closed:
            return _failed(run, LOST, f"The worker stopped while codeunit {run.codeunit_id} was running.", started)
        logger.warning("child_session_crashed pid=%s codeunit=%s session=%s task_id=%s how=%r",
                       child.pid, run.codeunit_id, run.session_id, run.task_id, how)
        self._replace()
        return _failed(run, CRASHED, f"The child session running codeunit {run.codeunit_id} {how}.", started)

    def _could_not_start(self, run, started, exc):
        if self._closed:
            return _failed(run, LOST, f"The worker is stopping: codeunit {run.codeunit_id} was not run.", started)
        logger.error("child_session_not_started codeunit=%s task_id=%s error=%r", run.codeunit_id, run.task_id, exc)
        return _failed(run, CRASHED, f"No child session could be started for codeunit {run.codeunit_id}: {exc}.", started)

    # The processes

    def _start(self, fingerprint):
        child = ChildProcess.start(_run_in_child, conf.get("CHILD_MEMORY_LIMIT_MB"), fingerprint)
        logger.debug("child_session_process_started pid=%s", child.pid)
        return child

    def _checkout(self):
        fingerprint = _fingerprint()
        stale = []
        try:
            with self._lock:
                if self._closed:
                    raise ChildGone("The child session pool is closed.")
                while self._idle:
                    child = self._idle.pop()
                    if child.fingerprint == fingerprint and not child.exited():
                        child.backends = {}
                        self._busy.add(child)
                        return child
                    stale.append(child)
        finally:
            for child in stale:
                child.kill()
        child = self._start(fingerprint)
        with self._lock:
            self._busy.add(child)
        return child

    def _checkin(self, child):
        with self._lock:
            self._busy.discard(child)
            keep = not self._closed and len(self._idle) < self.size and child.status is None
            if keep:
                self._idle.append(child)
        if not keep:
            child.kill()

    def _discard(self, child):
        with self._lock:
            self._busy.discard(child)
        child.kill()

    def _replace(self):
        """Start a process for a slot whose process was lost, so the next task does not wait."""
        with self._lock:
            if self._closed or os.getpid() != self._owner or len(self._idle) + len(self._busy) >= self.size:
                return
        try:
            child = self._start(_fingerprint())
        except OSError as exc:
            logger.error("child_session_not_replaced error=%r", exc)
            return
        with self._lock:
            if not self._closed:
                self._idle.append(child)
                logger.info("child_session_replaced pid=%s", child.pid)
                return
        child.kill()

    def close(self):
        """Kill every child process. Idempotent; the pool runs nothing afterwards."""
        with self._lock:
            self._closed = True
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
        if os.getpid() != self._owner:
            return  # a forked copy of the pool: the children are not ours
        for child in idle:
            child.kill()
        for child in busy:
            child.kill(close=False)  # their runs find them ended, and close them


async def _aterminate(backends):
    """End a killed child's PostgreSQL backends without blocking the event loop."""
    if backends:
        await asyncio.get_running_loop().run_in_executor(None, terminate_backends, backends)


async def _readable(fds, deadline):
    """Wait until one of ``fds`` is readable (True) or ``deadline`` passes (False)."""
    timeout = deadline - time.monotonic()
    if timeout <= 0:
        return False
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def wake(value):
        if not future.done():
            future.set_result(value)

    for fd in fds:
        loop.add_reader(fd, wake, True)
    timer = loop.call_later(timeout, wake, False)
    try:
        return await future
    finally:
        timer.cancel()
        for fd in fds:
            loop.remove_reader(fd)


_default_pool = None
_default_pool_lock = threading.Lock()


def _pool_for_sync():
    global _default_pool
    with _default_pool_lock:
        if _default_pool is None or _default_pool._owner != os.getpid() or _default_pool._closed:
            _default_pool = ChildSessionPool(conf.get("CHILD_SESSIONS"))
        return _default_pool


def run_sync(run):
    """Run ``run`` now, from synchronous code, with the child session's rules and timeout.

    The same as a background task: a separate process, a read-only connection,
    the timeout, the same outcomes. The processes are shared by the whole
    process (``CHILD_SESSIONS`` of them) and killed at exit.
    """
    return _pool_for_sync().run_sync(run)


@atexit.register
def _close_pools():
    for pool in list(_pools):
        pool.close()
