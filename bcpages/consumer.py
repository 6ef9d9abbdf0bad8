"""The parent-session consumer: one websocket, one open page (``/ws/pages/``).

Thin on purpose: it turns browser frames and layer messages into calls on a
``ParentSession`` and carries out the effects the session leaves. Page code runs
in ``database_sync_to_async`` (it may query the database), under a per-connection
lock, so triggers never run concurrently (S3). A watchdog task wakes at the
session's next deadline (S25).
"""

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer

from bcpages import frames
from bcpages.frames import FrameError
from bcpages.session import ParentSession
from tasks import conf
from tasks.embedded import ensure_embedded_worker
from tasks.messages import WORKERS_GROUP, TaskOutcome, TaskStarted

logger = logging.getLogger("bcpages")
# A client that sends this many unacceptable frames in a row is disconnected.
MAX_BAD_FRAMES = 20


class PageConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        if conf.embedded_worker_enabled():
            ensure_embedded_worker()
        self.lock = asyncio.Lock()
        self.bad_frames = 0
        self.watchdog = None
        expiry = getattr(self.channel_layer, "expiry", 60)
        self.session = ParentSession(
            reply_channel=self.channel_name, user=self.scope.get("user"), pickup_timeout_s=float(expiry)
        )
        await self.accept()

    async def disconnect(self, code):
        if self.watchdog is not None:
            self.watchdog.cancel()
        if hasattr(self, "session"):
            await self._call(self.session.close)  # S15

    # Browser frames --------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = frames.parse(text_data)
            if isinstance(frame, frames.PageOpen):
                await self._call(self.session.open, frame.page, frame.record)
            elif isinstance(frame, frames.PageNavigate):
                await self._call(self.session.navigate, frame.record, frame.step)
            elif isinstance(frame, frames.PageRefresh):
                await self._call(self.session.refresh)
            elif isinstance(frame, frames.PageAction):
                await self._call(self.session.action, frame.action, frame.args)
            elif isinstance(frame, frames.PageClose):
                await self._call(self.session.close)
            self.bad_frames = 0
        except FrameError as exc:
            self.bad_frames += 1
            await self.send(frames.dumps(frames.error(exc.code, exc.text)))
            if self.bad_frames >= MAX_BAD_FRAMES:
                await self.close(code=4400)

    # Layer messages from the worker ----------------------------------------
    async def task_started(self, message):
        await self._call(self.session.task_started, TaskStarted.from_message(message))

    async def task_outcome(self, message):
        await self._call(self.session.task_outcome, TaskOutcome.from_message(message))

    # Effects ---------------------------------------------------------------
    async def _call(self, method, *args):
        """Run a session method in the database thread, then carry out its effects."""
        async with self.lock:
            try:
                await database_sync_to_async(method)(*args)
            finally:
                effects = self.session.drain()
            await self._apply(effects)
        self._arm_watchdog()

    async def _apply(self, effects):
        lost = []
        for effect in effects:
            kind = effect[0]
            if kind == "frame":
                await self.send(frames.dumps(effect[1]))
            elif kind == "run":
                run = effect[1]
                try:
                    await self.channel_layer.send(conf.get("TASK_CHANNEL"), run.message())
                except ChannelFull:
                    lost.append(run.task_id)
            elif kind == "cancel":
                try:
                    if effect[1] is None:
                        await self.channel_layer.group_send(WORKERS_GROUP, effect[2].message())
                    else:
                        await self.channel_layer.send(effect[1], effect[2].message())
                except ChannelFull:
                    logger.warning("cancel_dropped worker=%s task_id=%s", effect[1], effect[2].task_id)
        for task_id in lost:
            await database_sync_to_async(self.session.lose)(task_id, "The task channel is full: no worker could take the task.")
            await self._apply(self.session.drain())

    def _arm_watchdog(self):
        if self.watchdog is not None and not self.watchdog.done():
            self.watchdog.cancel()
        deadline = self.session.next_deadline()
        if deadline is not None:
            self.watchdog = asyncio.ensure_future(self._wake_at(deadline))

    async def _wake_at(self, deadline):
        # The session's clock is time.monotonic().
        await asyncio.sleep(max(0.0, deadline - time.monotonic()) + 0.001)
        self.watchdog = None
        await self._call(self.session.check_deadlines)
