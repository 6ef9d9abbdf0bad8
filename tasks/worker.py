"""The Channels worker that runs page background tasks.

``TaskWorker`` is Channels' own ``Worker`` with one change: it receives from the
task channel only while one of its child sessions is free, so that several worker
processes share a backlog instead of the first one draining it into its memory
(CHANNELS-NOTES.md). ``TaskConsumer`` is the single application instance per
worker process; it starts a child session per ``task.run`` and listens on its own
channel name for ``task.cancel``.

Runs in: the worker's event loop (``manage.py runworker bcpages.tasks``, or inside
the ASGI process for the embedded default, see ``tasks.embedded``).
"""

import asyncio
import collections
import logging

from channels.consumer import AsyncConsumer
from channels.exceptions import ChannelFull
from channels.worker import Worker

from tasks import conf
from tasks.child_session import ChildSessionPool
from tasks.messages import CANCELLED, WORKER_START, WORKERS_GROUP, TaskCancel, TaskOutcome, TaskRun, TaskStarted

logger = logging.getLogger("tasks")
# How many cancels of not-yet-received tasks a worker remembers.
CANCELLED_MEMORY = 10_000


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
            queue = self.get_or_create_application_instance(channel, self._scope(channel))
            await queue.put({"type": WORKER_START})
        await super().handle()

    def _scope(self, channel):
        return {"type": "channel", "channel": channel, "child_sessions": self.pool, "slots": self.slots}

    async def listener(self, channel):
        scope = self._scope(channel)
        while True:
            await self.slots.acquire()
            try:
                message = await self.channel_layer.receive(channel)
            except BaseException:
                self.slots.release()
                raise
            if not message.get("type"):
                self.slots.release()
                logger.error("worker_message_without_type channel=%s", channel)
                continue
            instance_queue = self.get_or_create_application_instance(channel, scope)
            await instance_queue.put(message)


class TaskConsumer(AsyncConsumer):
    """Receives ``task.run`` on the task channel and ``task.cancel`` on its own channel."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.running = {}  # (session_id, task_id) -> asyncio task of its child session
        # Cancels of tasks this worker has not received (yet): dropped on arrival.
        self.cancelled = collections.OrderedDict()

    async def worker_start(self, message):
        await self.channel_layer.group_add(WORKERS_GROUP, self.channel_name)

    async def task_run(self, message):
        slots = self.scope.get("slots")
        try:
            run = TaskRun.from_message(message)
        except (KeyError, TypeError, ValueError):
            logger.error("task_run_malformed message=%r", message)
            run = None
        if run is None or self.cancelled.pop(run.key, None):
            if slots is not None:
                slots.release()
            return
        # Never await a child session here: this instance handles messages one at a
        # time, and a cancel must get through while tasks run.
        self.running[run.key] = asyncio.ensure_future(self._execute(run, slots))

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

    async def _execute(self, run, slots):
        pool = self.scope["child_sessions"]
        try:
            await self._send(run.reply_channel, TaskStarted(run.session_id, run.task_id, self.channel_name).message())
            try:
                outcome = await pool.run(run)
            except asyncio.CancelledError:
                outcome = TaskOutcome(run.session_id, run.task_id, CANCELLED)
            if outcome.state == "failed":
                logger.info(
                    "task_failed session=%s task_id=%s codeunit=%s code=%s",
                    run.session_id, run.task_id, run.codeunit_id, outcome.error.code,
                )
            await self._send(run.reply_channel, outcome.message())
        finally:
            self.running.pop(run.key, None)
            if slots is not None:
                slots.release()

    async def _send(self, channel, message):
        try:
            await self.channel_layer.send(channel, message)
        except ChannelFull:
            # The parent's watchdog fails the task as lost (S25).
            logger.warning("reply_dropped channel=%s type=%s", channel, message["type"])
