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
import logging

from channels.consumer import AsyncConsumer
from channels.exceptions import ChannelFull
from channels.worker import Worker

from tasks import conf
from tasks.child_session import ChildSessionPool
from tasks.messages import CANCELLED, TaskCancel, TaskOutcome, TaskRun, TaskStarted

logger = logging.getLogger("tasks")


class TaskWorker(Worker):
    def __init__(self, application, channels, channel_layer, pool=None, **kwargs):
        super().__init__(application, channels, channel_layer, **kwargs)
        self.pool = pool or ChildSessionPool(conf.get("CHILD_SESSIONS"))
        # One permit per child session; taken before receiving, given back when the
        # task's outcome has been sent.
        self.slots = asyncio.Semaphore(self.pool.size)

    async def listener(self, channel):
        scope = {"type": "channel", "channel": channel, "child_sessions": self.pool, "slots": self.slots}
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

    async def websocket_connect(self, message):  # pragma: no cover - not a websocket
        raise RuntimeError("TaskConsumer serves the task channel only.")

    def _running(self):
        if not hasattr(self, "running"):
            self.running = {}
        return self.running

    async def task_run(self, message):
        slots = self.scope.get("slots")
        try:
            run = TaskRun.from_message(message)
        except (KeyError, TypeError, ValueError):
            logger.error("task_run_malformed message=%r", message)
            if slots is not None:
                slots.release()
            return
        # Never await a child session here: this instance handles messages one at a
        # time, and a cancel must get through while tasks run.
        self._running()[run.key] = asyncio.ensure_future(self._execute(run, slots))

    async def task_cancel(self, message):
        cancel = TaskCancel.from_message(message)
        future = self._running().get(cancel.key)
        if future is not None and not future.done():
            future.cancel()

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
            self._running().pop(run.key, None)
            if slots is not None:
                slots.release()

    async def _send(self, channel, message):
        try:
            await self.channel_layer.send(channel, message)
        except ChannelFull:
            # The parent's watchdog fails the task as lost (S25).
            logger.warning("reply_dropped channel=%s type=%s", channel, message["type"])
