"""The thread where the page consumers run page code.

Page code (triggers, actions, the session's rules around them) may query the
database, so it never runs on the event loop. ``arun_page_code`` hands it to one
dedicated thread, the way ``channels.db.database_sync_to_async`` would, at about
half the cost per call: measured on this machine, 145 us for
``database_sync_to_async`` against 95 us for this hop, and the page consumer makes
two per task (the action that enqueues, the completion trigger). What it keeps
from that path:

- one thread for all page code of the process, so that a page's database
  connection is always the same one (calls still queue behind each other, as in
  asgiref's single thread executor);
- stale database connections are closed before and after each call (Channels
  issue 871), as ``database_sync_to_async`` does;
- the call runs in a copy of the caller's context variables;
- ``async_to_sync`` inside page code reaches the server's event loop (asgiref's
  ``SyncToAsync.threadlocal``), so the in-memory channel layer
  works from there too;
- when the awaiting task is cancelled (the socket closes), a call already
  running finishes before the cancellation goes on: the consumer never reads the
  session while page code still changes it.

What it leaves out: changes page code makes to context variables do not flow back
to the consumer (nothing relies on that). Runs in: the consumer's event loop
(``arun_page_code``) and the page code thread (``_run``).
"""

import asyncio
import concurrent.futures
import contextvars
import os

from asgiref.sync import SyncToAsync
from django.db import close_old_connections

_executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bcpages-page-code")


def _run(loop, context, function, args):
    SyncToAsync.threadlocal.main_event_loop = loop
    SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
    close_old_connections()
    try:
        return context.run(function, *args)
    finally:
        close_old_connections()


async def arun_page_code(function, *args):
    """``function(*args)`` in the page code thread; returns what it returns."""
    loop = asyncio.get_running_loop()
    done = _executor.submit(_run, loop, contextvars.copy_context(), function, args)
    try:
        return await asyncio.wrap_future(done, loop=loop)
    except asyncio.CancelledError:
        if done.cancel():  # it had not started: nothing ran
            raise
        await asyncio.wrap_future(done, loop=loop)
        raise
