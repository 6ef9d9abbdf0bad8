"""The task log (S36): every ended task becomes a ``TaskLogEntry`` row, without
costing the page a database write.

``record(session, task)`` is called by the parent session for each task that
reaches its terminal state (completed, failed, cancelled; also the tasks a closing
page cancels). It only appends a tuple to a process-wide buffer. The rows are
written with one ``executemany`` (``_insert``):

- in the ASGI process, by a background asyncio task (``ensure_flusher``, started
  by the page consumer) that flushes from its own thread every
  ``FLUSH_INTERVAL_S`` seconds, or sooner once ``FLUSH_ROWS`` rows wait;
- without that task (the JSON page API, ``tasks.testing.TestPage``, a management
  command), when the parent session closes, or by calling ``flush()``.

The log never breaks a page: a failed write is logged and its rows are dropped.
The buffer holds at most ``MAX_BUFFERED`` rows (the oldest go first). Rows still
buffered when the process stops abruptly are lost (at most about a second's worth).
"""

import asyncio
import collections
import concurrent.futures
import datetime
import logging
import threading
import time

from django.db import close_old_connections, connections, router, transaction

logger = logging.getLogger("tasks")

FLUSH_INTERVAL_S = 1.0
FLUSH_ROWS = 500
MAX_BUFFERED = 50_000
_LIMITS = {"session_id": 64, "username": 150, "page": 100, "record": 100, "codeunit_name": 250, "error_level": 10, "code": 100}

_buffer = collections.deque()
_dropped = 0
_flusher = None  # (loop, asyncio task, asyncio.Event) of this process's flusher
_wake_sent = False
_flush_lock = threading.Lock()


def record(session, task):
    """Buffer the log row of ``task``, which just ended in ``session`` (no I/O)."""
    global _dropped
    clock_now, wall_now = session.queue.clock(), time.time()
    error = task.error
    user = session.user
    _buffer.append((
        session.session_id,
        task.task_id,
        user.get_username() if getattr(user, "is_authenticated", False) else "",
        session.page.name if session.page is not None else "",
        task.record,
        task.codeunit_id,
        task.codeunit_name,
        session.bindings.binding_id(task.task_id),
        task.parameters,
        str(task.error_level),
        task.timeout_ms,
        wall_now - (clock_now - task.enqueued_at),
        None if task.began_at is None else wall_now - (clock_now - task.began_at),
        wall_now - (clock_now - task.ended_at) if task.ended_at is not None else wall_now,
        task.duration_ms,
        task.state,
        error.code if error else "",
        error.text if error else "",
        error.call_stack if error else "",
    ))
    if len(_buffer) > MAX_BUFFERED:
        _buffer.popleft()
        _dropped += 1
    if len(_buffer) >= FLUSH_ROWS:
        _wake_flusher()


_COLUMNS = (
    "session_id", "task_id", "username", "page", "record", "codeunit_id", "codeunit_name", "binding_id",
    "parameters", "error_level", "timeout_ms", "queued_at", "started_at", "ended_at", "duration_ms",
    "outcome", "code", "text", "call_stack",
)
_TIMES = ("queued_at", "started_at", "ended_at")


def record_run(run, outcome, *, queued_at, username="", page="admin"):
    """Buffer the row of a codeunit run outside any page (the admin's run form)."""
    error = outcome.error
    ended = time.time()
    _buffer.append((
        run.session_id, run.task_id, username, page, "", run.codeunit_id,
        _codeunit_name(run.codeunit_id), None, dict(run.parameters), "error", run.timeout_ms,
        queued_at, queued_at, ended, outcome.duration_ms, outcome.state,
        error.code if error else "", error.text if error else "", error.call_stack if error else "",
    ))


def _codeunit_name(codeunit_id):
    from tasks.codeunits import get_codeunit
    from tasks.errors import UnknownCodeunit

    try:
        return get_codeunit(codeunit_id).name
    except UnknownCodeunit:
        return ""


def pending():
    """How many rows wait to be written."""
    return len(_buffer)


def clear():
    """Drop every buffered row (tests)."""
    _buffer.clear()


def flush():
    """Write every buffered row now, from this thread; returns how many were written."""
    global _wake_sent, _dropped
    with _flush_lock:
        _wake_sent = False
        entries = []
        while True:
            try:
                entries.append(_buffer.popleft())
            except IndexError:
                break
        if not entries:
            return 0
        try:
            _insert([_row(entry) for entry in entries])
        except Exception as exc:  # the log must never break a page
            logger.error("task_log_write_failed rows=%s error=%r", len(entries), exc)
            return 0
        if _dropped:
            logger.warning("task_log_rows_dropped rows=%s reason=buffer_full", _dropped)
            _dropped = 0
        return len(entries)


def _insert(rows):
    """INSERT ``rows`` with one ``executemany`` per FLUSH_ROWS rows, in one transaction.

    Each value is prepared by its model field (``get_db_prep_save``, what
    ``bulk_create`` does too), but without a model instance per row and the SQL
    compiler per batch: in the benchmark's throughput scenario ``bulk_create`` held
    the GIL for about 8% of the Daphne process's time.
    """
    from tasks.models import TaskLogEntry

    meta = TaskLogEntry._meta
    connection = connections[router.db_for_write(TaskLogEntry)]
    fields = [meta.get_field(name) for name in _COLUMNS]
    quote = connection.ops.quote_name
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    values = [[field.get_db_prep_save(row[field.name], connection) for field in fields] for row in rows]
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(values), FLUSH_ROWS):
            cursor.executemany(sql, values[start:start + FLUSH_ROWS])


def _row(entry):
    row = dict(zip(_COLUMNS, entry))
    for name in _TIMES:
        if row[name] is not None:
            row[name] = datetime.datetime.fromtimestamp(row[name], tz=datetime.timezone.utc)
    for name, limit in _LIMITS.items():
        row[name] = str(row[name])[:limit]
    return row


# The flusher ---------------------------------------------------------------------


def ensure_flusher():
    """Start this event loop's flusher if it has none (called from the page consumer)."""
    global _flusher
    loop = asyncio.get_running_loop()
    if _flusher is not None and _flusher[0] is loop and not _flusher[1].done():
        return
    wake = asyncio.Event()
    task = loop.create_task(_run_flusher(wake), name="bcpages-task-log")
    _flusher = (loop, task, wake)


def flusher_running():
    flusher = _flusher
    return flusher is not None and not flusher[1].done() and not flusher[0].is_closed()


def session_closed():
    """A parent session closed: write its rows now unless a flusher will."""
    if not flusher_running():
        flush()


def _wake_flusher():
    global _wake_sent
    flusher = _flusher
    if _wake_sent or flusher is None or flusher[1].done() or flusher[0].is_closed():
        return
    _wake_sent = True
    try:
        flusher[0].call_soon_threadsafe(flusher[2].set)
    except RuntimeError:  # the loop closed meanwhile
        pass


_executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="task-log")


def _flush_in_thread():
    # A long-lived thread must drop stale connections itself (Channels issue 871).
    close_old_connections()
    try:
        return flush()
    finally:
        close_old_connections()


async def _run_flusher(wake):
    loop = asyncio.get_running_loop()
    while True:
        try:
            await asyncio.wait_for(wake.wait(), FLUSH_INTERVAL_S)
        except asyncio.TimeoutError:
            pass
        wake.clear()
        if _buffer:
            await loop.run_in_executor(_executor, _flush_in_thread)
