"""The Channels worker that runs page background tasks.

``TaskWorker`` is Channels' own ``Worker`` with one change: it receives from the
task channel only while one of its child sessions is free, so that several worker
processes share a backlog instead of the first one draining it into its memory
(CHANNELS-NOTES.md). ``TaskConsumer`` is the single application instance per
worker process; it starts a child session per ``task.run`` and listens on its own
channel name for ``task.cancel`` and ``task.heartbeat``.

Liveness (docs/protocol.md): a task whose ``task.run`` carries ``heartbeat_ms``
is cancelled when its parent has not named it in a ``task.heartbeat`` for
``MISSED_HEARTBEATS`` intervals: the Daphne process of its page is gone.

When the channel layer is unreachable (Redis restarting), the worker does not
exit: it logs, retries the receive with backoff, and replaces its consumer if the
consumer's own receive failed, so it serves again as soon as the layer is back.

Runs in: the worker's event loop (``manage.py runworker bcpages.tasks``, or inside
the ASGI process for the embedded default, see ``tasks.embedded``).
"""

import asyncio
import collections
import dataclasses
import logging
import time

from channels.consumer import AsyncConsumer
from channels.exceptions import ChannelFull
from channels.worker import Worker

from tasks import conf
from tasks.child_session import ChildSessionPool
from tasks.dispatch import DirectDispatch
from tasks.messages import (
    CANCELLED,
    LAYER_ERRORS,
    MISSED_HEARTBEATS,
    WORKER_START,
    WORKERS_GROUP,
    TaskCancel,
    TaskHeartbeat,
    TaskOutcome,
    TaskRun,
    TaskStarted,
)

logger = logging.getLogger("tasks")
# How many cancels of not-yet-received tasks a worker remembers.
CANCELLED_MEMORY = 10_000
# A worker joins WORKERS_GROUP again after this share of the layer's group expiry
# (channels_redis drops members after ``group_expiry``, a day by default).
GROUP_REFRESH_SHARE = 0.25
# Backoff of the receive while the channel layer is unreachable (seconds).
LAYER_RETRY_FIRST_S = 0.5
LAYER_RETRY_MAX_S = 5.0


def describe(exc):
    """An exception as a log value ("ConnectionError: Error 111 connecting to ...")."""
    return f"{type(exc).__name__}: {exc}"


class TaskWorker(Worker):
    def __init__(self, application, channels, channel_layer, pool=None, **kwargs):
        super().__init__(application, channels, channel_layer, **kwargs)
        self.pool = pool or ChildSessionPool(conf.get("CHILD_SESSIONS"))
        # One permit per child session; taken before receiving, given back when the
        # task's outcome has been sent.
        self.slots = asyncio.Semaphore(self.pool.size)

    async def handle(self):
        # Start the consumer at once, so that it joins WORKERS_GROUP before any task.
        for channel in self.channels:
            self.get_or_create_application_instance(channel, self._scope(channel))
        await super().handle()

    def get_or_create_application_instance(self, scope_id, scope):
        # A consumer that died (its own receive failed: the layer was down) is
        # replaced, not fed: messages put in its queue would be lost with their slots.
        details = self.application_instances.get(scope_id)
        if details is not None and details["future"].done():
            del self.application_instances[scope_id]
        new = scope_id not in self.application_instances
        queue = super().get_or_create_application_instance(scope_id, scope)
        if new:
            queue.put_nowait({"type": WORKER_START})  # joins WORKERS_GROUP first
        return queue

    def _scope(self, channel):
        return {"type": "channel", "channel": channel, "child_sessions": self.pool, "slots": self.slots}

    async def listener(self, channel):
        scope = self._scope(channel)
        retry_s = LAYER_RETRY_FIRST_S
        while True:
            await self.slots.acquire()
            try:
                message = await self.channel_layer.receive(channel)
            except LAYER_ERRORS as exc:
                self.slots.release()
                logger.warning("channel_layer_unreachable channel=%s error=%r retry_in_s=%s", channel, describe(exc), retry_s)
                await asyncio.sleep(retry_s)  # backoff, not synchronisation
                retry_s = min(retry_s * 2, LAYER_RETRY_MAX_S)
                continue
            except BaseException:
                self.slots.release()
                raise
            retry_s = LAYER_RETRY_FIRST_S
            if not message.get("type"):
                self.slots.release()
                logger.error("worker_message_without_type channel=%s", channel)
                continue
            instance_queue = self.get_or_create_application_instance(channel, scope)
            await instance_queue.put(message)


class TaskConsumer(DirectDispatch, AsyncConsumer):
    """Receives ``task.run`` on the task channel and ``task.cancel`` on its own channel."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.running = {}  # (session_id, task_id) -> asyncio task of its child session
        # Cancels of tasks this worker has not received (yet): dropped on arrival.
        self.cancelled = collections.OrderedDict()
        # Liveness: (session_id, task_id) -> [when its parent was last heard of, silence limit s].
        self.heard = {}
        self.sweeper = None
        self.joined_at = None

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except LAYER_ERRORS as exc:
            # The receive on its own channel failed (the layer is down). End quietly:
            # the worker starts a new consumer, on a new channel, with the next message
            # its listener gets once the layer is back. Running tasks finish here.
            logger.warning("worker_consumer_ended channel=%s error=%r", self.channel_name, describe(exc))

    async def worker_start(self, message):
        await self._join()
        pool = self.scope.get("child_sessions")
        logger.info("worker_ready channel=%s child_sessions=%s", self.channel_name, getattr(pool, "size", "?"))

    async def _join(self):
        await self.channel_layer.group_add(WORKERS_GROUP, self.channel_name)
        self.joined_at = time.monotonic()

    async def task_run(self, message):
        slots = self.scope.get("slots")
        try:
            run = TaskRun.from_message(message)
        except (KeyError, TypeError, ValueError):
            logger.error("task_run_malformed message=%r", message)
            run = None
        if run is None or run.key in self.running or self.cancelled.pop(run.key, None):
            # Unreadable, cancelled before it arrived, or a second delivery of a run
            # this worker already has (channels_redis issue 163).
            if slots is not None:
                slots.release()
            return
        refresh_s = getattr(self.channel_layer, "group_expiry", 86400) * GROUP_REFRESH_SHARE
        if self.joined_at is not None and time.monotonic() - self.joined_at > refresh_s:
            await self._join()
        # Never await a child session here: this instance handles messages one at a
        # time, and a cancel must get through while tasks run.
        future = asyncio.ensure_future(self._execute(run))
        self.running[run.key] = future
        # The slot goes back in a done callback, not in _execute's ``finally``: a
        # cancel that arrives before the coroutine first runs ends it without
        # running any of its body, and a ``finally`` there would leak the slot
        # until the worker took nothing at all.
        future.add_done_callback(lambda _, key=run.key: self._finished(key, slots))
        if run.heartbeat_ms:
            self.heard[run.key] = [time.monotonic(), MISSED_HEARTBEATS * run.heartbeat_ms / 1000]
            if self.sweeper is None or self.sweeper.done():
                self.sweeper = asyncio.ensure_future(self._sweep())

    async def task_heartbeat(self, message):
        now = time.monotonic()
        for key in TaskHeartbeat.from_message(message).keys:
            if key in self.heard:
                self.heard[key][0] = now

    async def _sweep(self):
        """Cancel the tasks whose parent went silent; ends when none is watched."""
        while self.heard:
            now = time.monotonic()
            wake = None
            for key, (heard, limit) in list(self.heard.items()):
                if now - heard < limit:
                    wake = heard + limit if wake is None else min(wake, heard + limit)
                    continue
                del self.heard[key]
                future = self.running.get(key)
                if future is not None and not future.done():
                    logger.warning(
                        "task_cancelled_parent_silent session=%s task_id=%s silent_s=%.1f", key[0], key[1], now - heard
                    )
                    future.cancel()
            if wake is not None:
                await asyncio.sleep(wake - now + 0.01)

    async def task_cancel(self, message):
        cancel = TaskCancel.from_message(message)
        future = self.running.get(cancel.key)
        if future is not None:
            if not future.done():
                future.cancel()
            return
        self.cancelled[cancel.key] = True
        while len(self.cancelled) > CANCELLED_MEMORY:
            self.cancelled.popitem(last=False)

    def _finished(self, key, slots):
        """A task's future is done (ran, or was cancelled before it started)."""
        self.running.pop(key, None)
        self.heard.pop(key, None)
        if slots is not None:
            slots.release()

    async def _execute(self, run):
        pool = self.scope["child_sessions"]
        logger.debug("task_started session=%s task_id=%s codeunit=%s", run.session_id, run.task_id, run.codeunit_id)
        await self._send(run.reply_channel, TaskStarted(run.session_id, run.task_id, self.channel_name).message())
        try:
            outcome = await pool.run(run)
        except asyncio.CancelledError:
            outcome = TaskOutcome(run.session_id, run.task_id, CANCELLED)
        outcome = dataclasses.replace(outcome, worker_channel=self.channel_name)
        if outcome.state == "failed":
            logger.info(
                "task_failed session=%s task_id=%s codeunit=%s code=%s",
                run.session_id, run.task_id, run.codeunit_id, outcome.error.code,
            )
        await self._send(run.reply_channel, outcome.message())

    async def _send(self, channel, message):
        try:
            await self.channel_layer.send(channel, message)
        except (ChannelFull, *LAYER_ERRORS) as exc:
            # The parent's watchdog fails the task as lost (S25).
            logger.warning("reply_dropped channel=%s type=%s error=%r", channel, message["type"], describe(exc))
