"""The embedded default: a worker inside the ASGI process.

With the in-memory channel layer a ``runworker`` process could never see the
messages Daphne sends, so the worker runs as an asyncio task in the same event
loop, sharing the layer object. Started on the first websocket connection.
"""

import asyncio
import logging

from channels.layers import get_channel_layer

from tasks import conf

logger = logging.getLogger("tasks")
_workers: dict = {}


def ensure_embedded_worker():
    """Start this event loop's worker if it has none yet; returns it."""
    loop = asyncio.get_running_loop()
    entry = _workers.get(loop)
    if entry is not None and not entry[1].done():
        return entry[0]
    from bcpages.asgi import worker_application
    from tasks.worker import TaskWorker

    worker = TaskWorker(
        application=worker_application(), channels=[conf.get("TASK_CHANNEL")], channel_layer=get_channel_layer()
    )
    future = loop.create_task(worker.arun(), name="bcpages-embedded-worker")
    future.add_done_callback(_report_exit)
    _workers[loop] = (worker, future)
    logger.info("embedded_worker_started channel=%s child_sessions=%s", conf.get("TASK_CHANNEL"), worker.pool.size)
    return worker


async def stop_embedded_worker():
    """Stop this loop's worker (tests)."""
    entry = _workers.pop(asyncio.get_running_loop(), None)
    if entry is None:
        return
    worker, future = entry
    future.cancel()
    for details in list(worker.application_instances.values()):
        details["future"].cancel()
    try:
        await future
    except BaseException:
        pass
    worker.pool.close()


def _report_exit(future):
    if not future.cancelled() and future.exception() is not None:
        logger.error("embedded_worker_died error=%r", future.exception())
