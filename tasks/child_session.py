"""Child sessions: where a codeunit runs, isolated from its page (S18-S23).

``execute(run)`` is the one place a codeunit is called: read-only, parameters in,
a checked ``dict[str, str]`` out, every exception turned into a TaskError.

``ChildSessionPool`` runs ``execute`` for the worker with a timeout and lets the
worker cancel a run; ``run_sync`` does the same for synchronous callers (the JSON
page API and the test API). This first version runs codeunits on threads; the
swap to processes stays inside this module.
"""

import asyncio
import concurrent.futures
import time
import traceback

from django.db import close_old_connections

from tasks.codeunits import get_codeunit
from tasks.errors import TASK_TIMEOUT, TIMEOUT_TEXT, PageBackgroundTaskError, TaskError
from tasks.messages import COMPLETED, FAILED, TaskOutcome
from tasks.readonly import read_only
from tasks.values import validate_results


def execute(run):
    """Run ``run``'s codeunit in this thread as a child session; return its outcome."""
    started = time.monotonic()
    close_old_connections()
    try:
        unit = get_codeunit(run.codeunit_id)
        with read_only():
            results = validate_results(unit.function(dict(run.parameters)))
        outcome = dict(state=COMPLETED, results=results)
    except BaseException as exc:  # a codeunit's SystemExit must not stop the worker
        outcome = dict(state=FAILED, error=error_from_exception(exc))
    finally:
        close_old_connections()
    return TaskOutcome(run.session_id, run.task_id, duration_ms=round((time.monotonic() - started) * 1000, 3), **outcome)


def error_from_exception(exc):
    """S23: the exception's ``code`` attribute or class name, its text, its stack."""
    code = getattr(exc, "code", None)
    if not isinstance(code, str) or not code:
        code = type(exc).__name__
    text = exc.text if isinstance(exc, PageBackgroundTaskError) else (str(exc) or code)
    return TaskError(code, text, "".join(traceback.format_exception(exc)))


def timeout_outcome(run, duration_ms):
    return TaskOutcome(run.session_id, run.task_id, FAILED, error=TaskError(TASK_TIMEOUT, TIMEOUT_TEXT), duration_ms=duration_ms)


class ChildSessionPool:
    """Runs codeunits for one worker, at most ``size`` at a time."""

    def __init__(self, size):
        self.size = size
        self._executor = concurrent.futures.ThreadPoolExecutor(size, thread_name_prefix="child-session")

    async def run(self, run):
        """The outcome of ``run``; a timeout fails it (S11). Cancelling the awaiting
        asyncio task abandons the run."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        future = loop.run_in_executor(self._executor, execute, run)
        try:
            return await asyncio.wait_for(future, run.timeout_ms / 1000)
        except asyncio.TimeoutError:
            return timeout_outcome(run, round((time.monotonic() - started) * 1000, 3))

    def close(self):
        self._executor.shutdown(wait=False, cancel_futures=True)


def run_sync(run):
    """Run ``run`` now, from synchronous code, with the child session's rules and timeout."""
    executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="child-session")
    try:
        return executor.submit(execute, run).result(run.timeout_ms / 1000)
    except concurrent.futures.TimeoutError:
        return timeout_outcome(run, run.timeout_ms)
    finally:
        executor.shutdown(wait=False)

