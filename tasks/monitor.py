"""The live monitor's feed (S36): parent sessions publish, monitors watch.

Two channel layer groups, so that it works with the in-memory layer and with
channels_redis across any number of Daphne processes:

    PROCESSES_GROUP  one listener per server process (not per page)
    MONITOR_GROUP    every monitor consumer (``/ws/monitor/``)

    monitor --monitor.watch--> PROCESSES_GROUP  "publish for LEASE_S seconds"; with
                                                 ``monitor``: "and send that monitor
                                                 a snapshot of your pages now"
    process --monitor.hello--> MONITOR_GROUP    a new process: "send me the watch"
    page    --monitor.pages--> MONITOR_GROUP    a page's changed tasks, at most every
                                                 BATCH_S; snapshots, to one monitor

While no monitor watches (no lease), a page publishes nothing: it costs one entry
in a process-local set and nothing per task. A monitor renews the lease every
RENEW_S seconds, one message per process, and asks for fresh snapshots every
SNAPSHOT_EVERY_S, which also repairs what the layer dropped (at most once).

``monitor.pages`` holds ``pages``, a list of page views; the monitor sends each to
the browser as its own message::

    {"type": "monitor.page", "snapshot": bool, "closed": bool, "sent": epoch ms,
     "session": {"id", "page", "record", "user", "server"},
     "tasks": [{"id", "codeunit", "name", "record", "state", "queued", "started",
                "ended", "code", "text", "binding"}]}   times in epoch ms, or null

Runs in: the server's event loop (page consumers, monitor consumers, and the
process listener, an asyncio task like the embedded worker).
"""

import asyncio
import logging
import os
import socket
import time
import weakref

from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncJsonWebsocketConsumer

logger = logging.getLogger("tasks")

PROCESSES_GROUP = "bcpages.monitor.processes"
MONITOR_GROUP = "bcpages.monitor"
MONITOR_WATCH = "monitor.watch"
MONITOR_HELLO = "monitor.hello"
MONITOR_PAGES = "monitor.pages"
MONITOR_PAGE = "monitor.page"  # one page view, as the browser receives it

#: A page publishes its changes at most this often.
BATCH_S = 0.25
#: How long one watch message keeps pages publishing.
LEASE_S = 30.0
#: How often a monitor renews the lease, and asks for fresh snapshots.
RENEW_S = 10.0
SNAPSHOT_EVERY_S = 30.0
#: Ended tasks younger than this go into a snapshot (the timeline's widest window).
SNAPSHOT_HISTORY_S = 300.0
SNAPSHOT_MAX_TASKS = 300
#: Page views per layer message (a layer message must stay well below 1 MB).
PAGES_PER_MESSAGE = 50
TEXT_LIMIT = 300
#: Group memberships expire (channels' group_expiry, a day by default): renew.
REJOIN_S = 3600.0
SERVER = f"{socket.gethostname()}:{os.getpid()}"

_feeds = weakref.WeakSet()  # every PageFeed of this process
_listeners = {}  # event loop -> ProcessListener
# The lease as this process knows it: publishing until ``until``; ``since`` marks
# when the current unbroken lease began (a page publishes a full snapshot first).
_lease = {"until": 0.0, "since": 0.0}


def watching():
    return time.monotonic() < _lease["until"]


def reset():
    """Forget the lease (tests)."""
    _lease.update(until=0.0, since=0.0)


# Views ----------------------------------------------------------------------------


def _epoch_ms(clock_value, clock_now, wall_now):
    if clock_value is None:
        return None
    return round((wall_now - (clock_now - clock_value)) * 1000)


def task_view(session, task, clock_now, wall_now, on_worker_at=None):
    error = task.error
    return {
        "id": task.task_id,
        "codeunit": task.codeunit_id,
        "name": task.codeunit_name,
        "record": task.record,
        "state": task.state,
        "queued": _epoch_ms(task.enqueued_at, clock_now, wall_now),
        "started": _epoch_ms(task.started_at, clock_now, wall_now),
        # When a worker's child session took it (the parent only admitted it at "started").
        # (Unknown for a task that reached its worker while nobody watched: its start.)
        "on_worker": _epoch_ms(on_worker_at or task.began_at, clock_now, wall_now) if task.worker_channel else None,
        "ended": _epoch_ms(task.ended_at, clock_now, wall_now),
        "code": error.code if error else "",
        "text": error.text[:TEXT_LIMIT] if error else "",
        "binding": session.bindings.binding_id(task.task_id),
    }


def page_view(session, tasks, *, snapshot=False, closed=False, on_worker=None):
    """What a monitor learns about one parent session (``tasks``: Task objects;
    ``on_worker``: task id -> session clock when a worker reported starting it)."""
    on_worker = on_worker or {}
    clock_now, wall_now = session.queue.clock(), time.time()
    if snapshot:
        horizon = clock_now - SNAPSHOT_HISTORY_S
        tasks = [t for t in list(session.queue.tasks.values()) if t.live or (t.ended_at or 0) >= horizon]
        tasks = tasks[-SNAPSHOT_MAX_TASKS:]
    user = session.user
    return {
        "type": MONITOR_PAGE,
        "snapshot": snapshot,
        "closed": closed or session.closed,
        "sent": round(wall_now * 1000),
        "session": {
            "id": session.session_id,
            "page": session.page.name if session.page is not None else "",
            "record": session.record,
            "user": user.get_username() if getattr(user, "is_authenticated", False) else "",
            "server": SERVER,
        },
        "tasks": [task_view(session, task, clock_now, wall_now, on_worker.get(task.task_id)) for task in tasks],
    }


async def _publish(layer, views, to=None):
    for start in range(0, len(views), PAGES_PER_MESSAGE):
        message = {"type": MONITOR_PAGES, "pages": views[start:start + PAGES_PER_MESSAGE]}
        try:
            if to:
                await layer.send(to, message)
            else:
                await layer.group_send(MONITOR_GROUP, message)
        except ChannelFull:
            logger.info("monitor_message_dropped to=%s pages=%s", to or MONITOR_GROUP, len(message["pages"]))


# A page's side ----------------------------------------------------------------------


class PageFeed:
    """What one page consumer publishes. The consumer calls ``join`` on connect,
    ``collect`` after every session call (under its lock) and ``leave`` on
    disconnect. Publishing is batched: at most one message every BATCH_S."""

    def __init__(self, consumer):
        self.consumer = consumer
        self.synced = None  # the lease (its ``since``) this page has sent a snapshot in
        self._pending = {}  # task id -> Task changed since the last message
        # task id -> session clock when a worker reported starting it: the session
        # keeps no such time, and ``task.started`` changes no task state.
        self._on_worker = {}
        self._sent_view = None
        self._last_sent = 0.0
        self._publisher = None

    @property
    def session(self):
        return self.consumer.session

    async def join(self):
        _feeds.add(self)
        await ensure_listener(self.consumer.channel_layer)

    async def leave(self):
        _feeds.discard(self)
        if self._publisher is not None:
            self._publisher.cancel()
        if watching() and self.session.page is not None:
            self.collect()
            await self._send(closed=True)

    def collect(self):
        """Take the session's changed tasks; publish them soon if a monitor watches."""
        changed, self.session.changed_tasks = self.session.changed_tasks, []
        if not watching() or self.session.page is None:
            return
        for task in changed:
            self._pending[task.task_id] = task
        clock_now = self.session.queue.clock()
        for task in self.session.queue.running():
            if task.worker_channel and task.task_id not in self._on_worker:
                self._on_worker[task.task_id] = clock_now
                self._pending[task.task_id] = task
        if len(self._on_worker) > 2 * SNAPSHOT_MAX_TASKS:
            live = {task.task_id for task in self.session.queue.live()}
            self._on_worker = {key: value for key, value in self._on_worker.items() if key in live}
        view = (self.session.page.name, self.session.record)
        fresh = self.synced != _lease["since"]
        if (fresh or self._pending or view != self._sent_view) and (self._publisher is None or self._publisher.done()):
            self._publisher = asyncio.ensure_future(self._publish_soon())

    def snapshot(self):
        """A full view of this page, or None before it opened."""
        if self.session.page is None:
            return None
        self.synced = _lease["since"]
        return page_view(self.session, (), snapshot=True, on_worker=self._on_worker)

    async def _publish_soon(self):
        await asyncio.sleep(max(0.0, self._last_sent + BATCH_S - time.monotonic()))
        await self._send()

    async def _send(self, *, closed=False):
        session = self.session
        snapshot = self.synced != _lease["since"]
        tasks = list(self._pending.values())
        self._pending.clear()
        self._last_sent = time.monotonic()
        if snapshot:
            view = self.snapshot()
            view["closed"] = closed or session.closed
        else:
            view = page_view(session, tasks, closed=closed, on_worker=self._on_worker)
        self._sent_view = (view["session"]["page"], view["session"]["record"])
        await _publish(self.consumer.channel_layer, [view])


# A process's side ---------------------------------------------------------------------


class ProcessListener:
    """One per server process (per event loop): hears ``monitor.watch`` for every
    page of the process, so that a renewal costs one message per process."""

    def __init__(self, layer):
        self.layer = layer
        self.channel = None
        self.task = None

    async def start(self):
        # The default prefix: channels_redis pulls every process-specific channel of a
        # process through one list, named after the prefix; another prefix would
        # starve the page consumers while this listener waits.
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(PROCESSES_GROUP, self.channel)
        self.task = asyncio.ensure_future(self._run())
        # A monitor already open answers with the watch (and asks for a snapshot).
        await self.layer.group_send(MONITOR_GROUP, {"type": MONITOR_HELLO, "process": self.channel})

    def alive(self):
        return self.task is None or not self.task.done()

    async def _run(self):
        rejoin = time.monotonic() + REJOIN_S
        while True:
            message = await self.layer.receive(self.channel)
            if time.monotonic() > rejoin:
                rejoin = time.monotonic() + REJOIN_S
                await self.layer.group_add(PROCESSES_GROUP, self.channel)
            if message.get("type") == MONITOR_WATCH:
                try:
                    await self.watch(message)
                except Exception:  # a bad message must not stop the listener
                    logger.exception("monitor_watch_failed message=%r", message)

    async def watch(self, message):
        now = time.monotonic()
        if not watching():
            _lease["since"] = now
        _lease["until"] = max(_lease["until"], now + float(message.get("lease_s", LEASE_S)))
        monitor = message.get("monitor")
        if monitor:
            views = [view for view in (feed.snapshot() for feed in list(_feeds)) if view is not None]
            await _publish(self.layer, views, to=monitor)


async def ensure_listener(layer):
    """Start this event loop's process listener if it has none (on this layer)."""
    loop = asyncio.get_running_loop()
    for other in [other for other in _listeners if other.is_closed()]:
        del _listeners[other]
    listener = _listeners.get(loop)
    if listener is not None and listener.layer is layer and listener.alive():
        return listener
    listener = ProcessListener(layer)
    _listeners[loop] = listener  # before awaiting: concurrent callers reuse it
    await listener.start()
    return listener


# The monitor's side ----------------------------------------------------------------


class MonitorConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/monitor/``: staff only (others are refused at the handshake: HTTP 403).

    Sends the browser one ``monitor.page`` message per page view it hears.
    """

    async def connect(self):
        user = self.scope.get("user")
        if not (user is not None and user.is_active and user.is_staff):
            await self.close(code=4403)
            return
        self.renewer = None
        await self.channel_layer.group_add(MONITOR_GROUP, self.channel_name)
        await self.accept()
        await ensure_listener(self.channel_layer)  # this process's pages hear it too
        await self._watch(PROCESSES_GROUP, snapshot=True)
        self.renewer = asyncio.ensure_future(self._renew())

    async def disconnect(self, code):
        if getattr(self, "renewer", None) is not None:
            self.renewer.cancel()
        await self.channel_layer.group_discard(MONITOR_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "monitor.snapshot":
            await self._watch(PROCESSES_GROUP, snapshot=True)

    async def monitor_pages(self, message):
        for view in message.get("pages", ()):
            await self.send_json(view)

    async def monitor_hello(self, message):
        await self._watch(message["process"], snapshot=True)

    async def _watch(self, to, snapshot):
        message = {"type": MONITOR_WATCH, "monitor": self.channel_name if snapshot else "", "lease_s": LEASE_S}
        if to == PROCESSES_GROUP:
            await self.channel_layer.group_send(to, message)
        else:
            try:
                await self.channel_layer.send(to, message)
            except ChannelFull:
                logger.info("monitor_watch_dropped process=%s", to)

    async def _renew(self):
        last_snapshot = time.monotonic()
        while True:
            await asyncio.sleep(RENEW_S)
            snapshot = time.monotonic() - last_snapshot >= SNAPSHOT_EVERY_S
            if snapshot:
                last_snapshot = time.monotonic()
            await self._watch(PROCESSES_GROUP, snapshot)
