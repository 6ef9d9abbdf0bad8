"""The parent-session consumer: one websocket, one open page (``/ws/pages/``).

Thin on purpose: it turns browser frames and layer messages into calls on a
``ParentSession`` and carries out the effects the session leaves. Page code runs
in the page code thread (``bcpages.page_thread``: it may query the database),
under a per-connection lock, so triggers never run concurrently (S3). A watchdog timer wakes at the
session's next deadline (S25).

Liveness (docs/protocol.md): while workers run tasks of the page, a heartbeat
task sends them ``task.heartbeat`` every ``heartbeat_ms``, so that a worker can
cancel the tasks of a Daphne process that died. When the channel layer becomes
unreachable (Redis down), the running tasks fail as lost, the browser is told,
and the connection closes with 3013: the browser reconnects with backoff and
gets a new parent session once the layer is back.
"""

import asyncio
import logging
import time

from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import InMemoryChannelLayer

from bcpages import frames
from bcpages.frames import FrameError
from bcpages.page_thread import arun_page_code
from bcpages.session import ParentSession
from tasks import conf, metrics, tasklog
from tasks.dispatch import DirectDispatch
from tasks.embedded import ensure_embedded_worker
from tasks.messages import HEARTBEAT_MS, LAYER_ERRORS, WORKERS_GROUP, TaskOutcome, TaskStarted
from tasks.monitor import PageFeed

logger = logging.getLogger("bcpages")
# A client that sends this many unacceptable frames in a row is disconnected.
MAX_BAD_FRAMES = 20
# The close code when the channel layer is unreachable: 1013 "try again later"
# in the range applications may send (Daphne refuses 1011-1014 from them). The
# browser client treats it as abnormal and reconnects with backoff.
LAYER_LOST_CLOSE_CODE = 3013
LAYER_LOST_TEXT = "The connection to the task workers was lost (channel layer unreachable); the task did not finish."


def heartbeat_ms(channel_layer):
    """How often this process tells workers that its pages are still there (ms).

    0 on an in-memory layer: the worker runs in this very process and dies with
    it. Otherwise ``BCPAGES["PARENT_HEARTBEAT_MS"]`` where ``tasks.conf`` lists
    it, else the protocol's default (``tasks.messages.HEARTBEAT_MS``).
    """
    if isinstance(channel_layer, InMemoryChannelLayer):
        return 0
    if "PARENT_HEARTBEAT_MS" in conf.DEFAULTS:
        return conf.get("PARENT_HEARTBEAT_MS")
    return HEARTBEAT_MS


class PageConsumer(DirectDispatch, AsyncWebsocketConsumer):
    async def connect(self):
        if conf.embedded_worker_enabled():
            ensure_embedded_worker()
        self.lock = asyncio.Lock()
        self.bad_frames = 0
        self.watchdog = None  # an asyncio TimerHandle
        self.watchdog_deadline = None  # what it is armed for
        self.heartbeat = None
        self.layer_error = None  # set once a layer operation failed: the layer is down
        expiry = getattr(self.channel_layer, "expiry", 60)
        self.session = ParentSession(
            reply_channel=self.channel_name, user=self.scope.get("user"), pickup_timeout_s=float(expiry),
            heartbeat_ms=heartbeat_ms(self.channel_layer),
        )
        # Administration (docs/administration.md): the task log's writer, the
        # metrics' open sessions, the live monitor's feed.
        tasklog.ensure_flusher()
        metrics.session_opened(self.session)
        self.feed = PageFeed(self)
        await self.accept()
        await self.feed.join()

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except LAYER_ERRORS as exc:
            # The layer's receive on this consumer's channel failed (Redis down).
            # Uncaught, Daphne would log it, close with 1011 a second later, and the
            # page's tasks would never end.
            await self._layer_lost(exc)

    async def disconnect(self, code):
        self._stop_timers()
        if hasattr(self, "session"):
            await self._call(self.session.close)  # S15
            metrics.session_closed(self.session)
        if hasattr(self, "feed"):
            await self.feed.leave()

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
                await self._call(self.session.close_page)
            self.bad_frames = 0
        except FrameError as exc:
            self.bad_frames += 1
            await self.send(frames.dumps(frames.error(exc.code, exc.text)))
            if self.bad_frames >= MAX_BAD_FRAMES:
                await self.close(code=4400)

    # Layer messages from the worker ----------------------------------------
    async def task_started(self, message):
        # Pure bookkeeping (no page code, no database): no hop to the page code thread.
        await self._call(self.session.task_started, TaskStarted.from_message(message), in_thread=False)

    async def task_outcome(self, message):
        await self._call(self.session.task_outcome, TaskOutcome.from_message(message))

    # Effects ---------------------------------------------------------------
    async def _call(self, method, *args, in_thread=True):
        """Run a session method (in the page code thread: page code may query the
        database), then carry out its effects."""
        async with self.lock:
            try:
                if in_thread:
                    await arun_page_code(method, *args)
                else:
                    method(*args)
            finally:
                effects = self.session.drain()
            await self._apply(effects)
            self.feed.collect()  # task changes for a watching monitor (batched)
        if self.layer_error is not None:
            await self._layer_lost(self.layer_error)
            return
        self._arm_watchdog()
        self._arm_heartbeat()

    async def _apply(self, effects):
        lost = []
        for effect in effects:
            kind = effect[0]
            if kind == "frame":
                await self.send(frames.dumps(effect[1]))
            elif kind == "run":
                run = effect[1]
                try:
                    await self._layer_send(conf.get("TASK_CHANNEL"), run.message())
                except ChannelFull:
                    lost.append(run.task_id)
            elif kind == "cancel":
                try:
                    await self._layer_send(effect[1], effect[2].message())
                except ChannelFull:
                    logger.warning("cancel_dropped worker=%s task_id=%s", effect[1], effect[2].task_id)
            elif kind == "heartbeat":
                try:
                    await self._layer_send(effect[1], effect[2].message())
                except ChannelFull:
                    logger.warning("heartbeat_dropped worker=%s task_ids=%s", effect[1], effect[2].task_ids)
        if self.layer_error is not None:
            return  # _layer_lost fails every running task at once
        for task_id in lost:
            await arun_page_code(self.session.lose, task_id, "The task channel is full: no worker could take the task.")
            await self._apply(self.session.drain())

    async def _layer_send(self, channel, message):
        """Send ``message`` to ``channel`` (None: every worker, WORKERS_GROUP).

        Once a layer operation failed, nothing more is sent: the caller ends the
        connection (``_layer_lost``). ChannelFull is the caller's to handle.
        """
        if self.layer_error is not None:
            return
        try:
            if channel is None:
                await self.channel_layer.group_send(WORKERS_GROUP, message)
            else:
                await self.channel_layer.send(channel, message)
        except LAYER_ERRORS as exc:
            self.layer_error = exc

    async def _layer_lost(self, exc):
        """The channel layer is unreachable: fail the running tasks as lost, tell the
        browser, close with 3013 (the browser reconnects with backoff). Runs once."""
        if getattr(self, "_layer_lost_handled", False):
            return
        self._layer_lost_handled = True
        self.layer_error = self.layer_error or exc
        self._stop_timers()
        logger.warning("channel_layer_unreachable channel=%s error=%r", getattr(self, "channel_name", ""), f"{type(exc).__name__}: {exc}")
        session = getattr(self, "session", None)
        try:
            if session is not None:
                async with self.lock:
                    try:
                        await arun_page_code(session.layer_lost, LAYER_LOST_TEXT)
                    finally:
                        effects = session.drain()
                    for effect in effects:
                        if effect[0] == "frame":  # nothing reaches the layer any more
                            await self.send(frames.dumps(effect[1]))
        finally:
            await self.close(code=LAYER_LOST_CLOSE_CODE)

    def _stop_timers(self):
        current = asyncio.current_task()
        for timer in (getattr(self, "watchdog", None), getattr(self, "heartbeat", None)):
            if timer is not None and timer is not current:
                timer.cancel()
        self.watchdog = self.watchdog_deadline = None

    def _arm_heartbeat(self):
        """Liveness: beat while workers run tasks of this page (docs/protocol.md)."""
        if self.heartbeat is not None and not self.heartbeat.done():
            return
        if self.session.queue.heartbeat_ms and self.session.running_on_workers():
            self.heartbeat = asyncio.ensure_future(self._beat())

    async def _beat(self):
        interval = self.session.queue.heartbeat_ms / 1000
        while True:
            await asyncio.sleep(interval)
            async with self.lock:
                # No page code runs in keep_alive: no hop to the page code thread.
                self.session.keep_alive()
                await self._apply(self.session.drain())
            if self.layer_error is not None:
                await self._layer_lost(self.layer_error)
                return
            if not self.session.running_on_workers():
                return

    def _arm_watchdog(self):
        # Called after every message: the next deadline rarely moves (it is seconds
        # away, the earliest of the running tasks'), so the timer stays as it is
        # then. A loop timer, not an asyncio task: one task per message was a
        # measurable share of the round trip.
        deadline = self.session.next_deadline()
        if deadline == self.watchdog_deadline:
            return
        if self.watchdog is not None:
            self.watchdog.cancel()
        self.watchdog, self.watchdog_deadline = None, deadline
        if deadline is not None:
            # The session's clock is time.monotonic().
            delay = max(0.0, deadline - time.monotonic()) + 0.001
            self.watchdog = asyncio.get_running_loop().call_later(delay, self._wake)

    def _wake(self):
        self.watchdog = self.watchdog_deadline = None
        # Kept, so that the task is not collected while it runs.
        self.watchdog_check = asyncio.ensure_future(self._call(self.session.check_deadlines))
