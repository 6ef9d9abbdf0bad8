"""A scaled-out deployment on this machine, as real processes (tests and bench).

``Deployment`` creates a fresh PostgreSQL database (``bcpages_scaleout_<pid>``),
migrates it and fills it with ``tests.factories.make_customers()``, gives the
channel layer a Redis key prefix of its own (so that concurrent runs never see
each other's messages), and starts Daphne and ``manage.py runworker
bcpages.tasks`` processes exactly as ``docs/deployment.md`` says. ``Page`` is a
small websocket client for one open page.

Every wait here is on something observable (a line of output, a frame, a
process state) with a deadline; nothing sleeps to synchronise.
"""

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
#: The PostgreSQL server (no database name: each deployment makes its own).
POSTGRES_SERVER = os.environ.get("SCALEOUT_POSTGRES_SERVER", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("SCALEOUT_REDIS_URL", "redis://127.0.0.1:6379/0")
STARTUP_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
# Daphne logs this once its socket listens; with "-p 0" it names the port it got.
LISTENING = re.compile(r"Listening on TCP address [\d.]+:(\d+)")
# tasks.worker logs this once its consumer joined the workers' group.
WORKER_READY = re.compile(r"worker_ready channel=(\S+)")
SETUP_DATABASE = (
    "from django.core.management import call_command; "
    "call_command('migrate', interactive=False, verbosity=0); "
    "from tests.factories import make_customers; "
    "make_customers()"
)


class Output(threading.Thread):
    """Reads a process's output to its end (a full pipe would block it), keeps
    every line, and lets callers wait for a line that matches a pattern."""

    def __init__(self, stream, name):
        super().__init__(daemon=True, name=f"output-{name}")
        self.stream = stream
        self.lines = []
        self.ended = False
        self.changed = threading.Condition()

    def run(self):
        for line in self.stream:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def wait_for(self, pattern, timeout, start=0):
        """The first match of ``pattern`` in the lines from index ``start`` on;
        raises TimeoutError (with the output) when none came within ``timeout``."""
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        index = start
        with self.changed:
            while True:
                while index < len(self.lines):
                    match = pattern.search(self.lines[index])
                    index += 1
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if self.ended or remaining <= 0:
                    tail = "\n".join(self.lines[-60:])
                    why = "its output ended" if self.ended else f"{timeout} s passed"
                    raise TimeoutError(f"no line matched {pattern.pattern!r} ({why}); last lines:\n{tail}")
                self.changed.wait(remaining)

    def count(self, pattern, start=0):
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        with self.changed:
            return sum(1 for line in self.lines[start:] if pattern.search(line))

    def __len__(self):
        with self.changed:
            return len(self.lines)

    def tail(self, n=60):
        with self.changed:
            return "\n".join(self.lines[-n:])


class Service:
    """One subprocess of the deployment (Daphne, a worker, a Redis server)."""

    def __init__(self, name, args, env):
        self.name = name
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            # Its own process group: stopping it stops anything it started.
            start_new_session=True,
        )
        self.output = Output(self.process.stdout, name)
        self.output.start()

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def kill(self):
        """SIGKILL the process only (what a crash or the OOM killer does)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(STOP_TIMEOUT_S)

    def stop(self):
        """Terminate, kill if it lingers, then anything left in its group."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.output.join(STOP_TIMEOUT_S)

    def __repr__(self):
        return f"<{self.name} pid={self.pid}>"


class Daphne(Service):
    def __init__(self, name, env, application="tests.scaleout.asgi:application"):
        super().__init__(name, [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", "0", application], env)
        self.port = None

    def ready(self):
        """Wait until Daphne listens; returns self."""
        self.port = int(self.output.wait_for(LISTENING, STARTUP_TIMEOUT_S).group(1))
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws/pages/"


class Worker(Service):
    def __init__(self, name, env):
        super().__init__(name, [PYTHON, "manage.py", "runworker", "bcpages.tasks"], env)
        #: The worker's own channel (task.started names it; task.cancel goes there).
        self.channel = None

    def ready(self):
        """Wait until the worker listens (it joined the workers' group); returns self."""
        self.channel = self.output.wait_for(WORKER_READY, STARTUP_TIMEOUT_S).group(1)
        return self

    def started_count(self, start=0):
        """How many tasks this worker started (its ``task_started`` log lines)."""
        return len(self.started_tasks(start))

    def started_tasks(self, start=0):
        """(session id, task id) of every task this worker started, in order."""
        pattern = re.compile(r" task_started session=(\S+) task_id=(\d+)")
        with self.output.changed:
            lines = self.output.lines[start:]
        return [(m.group(1), int(m.group(2))) for m in map(pattern.search, lines) if m]

    def child_processes(self):
        """The worker's child processes (its child sessions), as psutil objects."""
        import psutil

        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.pid).children(recursive=True)
        return []


class RedisServer(Service):
    """A private redis-server on a free port, for the test that restarts Redis
    (the machine's own Redis is shared and never restarted)."""

    def __init__(self, name="redis", port=None):
        self.port = port or free_port()
        super().__init__(name, [
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
        ], dict(os.environ))
        self.output.wait_for(r"Ready to accept connections", STARTUP_TIMEOUT_S)

    def restart(self):
        """A new redis-server on the same port (empty: nothing was saved)."""
        self.stop()
        return RedisServer(self.name, self.port)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Deployment:
    """A database, a Redis prefix, and the processes of one scaled-out deployment.

    ``daphne()`` and ``worker()`` start processes (waiting until each is ready);
    ``close()`` stops them all, drops the database and deletes the prefix's keys.
    """

    def __init__(self, *, name=None, redis_url=REDIS_URL, settings="tests.settings", extra_env=None):
        self.name = name or f"bcpages_scaleout_{os.getpid()}"
        self.database_url = f"{POSTGRES_SERVER}/{self.name}"
        self.redis_url = redis_url
        self.prefix = f"{self.name}_{uuid.uuid4().hex[:6]}:"
        self.settings = settings
        self.extra_env = dict(extra_env or {})
        self.services = []
        self._created = False

    def env(self, **extra):
        env = dict(os.environ)
        for name in ("DATABASE_URL", "REDIS_URL", "CHILD_SESSION_DATABASE_URL"):
            env.pop(name, None)
        env.update(
            DJANGO_SETTINGS_MODULE=self.settings,
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            CHANNEL_LAYER_PREFIX=self.prefix,
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    # Database -------------------------------------------------------------
    def create_database(self):
        _admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{self.name}"')
        self._created = True
        result = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", SETUP_DATABASE],
            cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"Preparing {self.name} failed:\n{result.stdout}\n{result.stderr}")
        # ``migrate`` also made the read-only role child sessions connect as
        # (tasks.child_role, a post_migrate receiver), when the project has it.

    def sibling(self, redis_url):
        """Another deployment on the same database with its own channel layer
        (for a Redis that a test may stop); closing it keeps the database."""
        other = Deployment(name=self.name, redis_url=redis_url, settings=self.settings, extra_env=self.extra_env)
        other.database_url = self.database_url
        return other

    # Processes ------------------------------------------------------------
    def start(self, daphnes=0, workers=0, **extra_env):
        """Start Daphne and worker processes side by side, then wait until every
        one is ready; returns (list of Daphne, list of Worker)."""
        started_daphnes = [self._start_daphne(**extra_env) for _ in range(daphnes)]
        started_workers = [self._start_worker(**extra_env) for _ in range(workers)]
        return [d.ready() for d in started_daphnes], [w.ready() for w in started_workers]

    def daphne(self, **extra_env):
        return self._start_daphne(**extra_env).ready()

    def worker(self, **extra_env):
        return self._start_worker(**extra_env).ready()

    def _start_daphne(self, **extra_env):
        service = Daphne(f"daphne-{len(self.services)}", self.env(**extra_env))
        self.services.append(service)
        return service

    def _start_worker(self, **extra_env):
        # DEBUG: each worker logs the tasks it starts (which worker ran what).
        service = Worker(f"worker-{len(self.services)}", self.env(BCPAGES_LOG_LEVEL="DEBUG", **extra_env))
        self.services.append(service)
        return service

    def close(self):
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        with contextlib.suppress(Exception):
            delete_keys(self.redis_url, self.prefix)
        if self._created:
            _admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._created = False

    def __enter__(self):
        self.create_database()
        return self

    def __exit__(self, *exc_info):
        self.close()


def _admin(statement):
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=10) as connection:
        connection.execute(statement)


def delete_keys(redis_url, prefix):
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=10)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
    finally:
        client.close()


# The page client -----------------------------------------------------------
class Page:
    """One browser tab's websocket: open a page, send frames, wait for frames.

    ``tasks`` holds the last ``task.state`` frame of each task id;
    ``notifications`` every notification; ``frames`` everything received.
    """

    def __init__(self, ws, daphne):
        self.ws = ws
        self.daphne = daphne
        self.frames = []
        self.tasks = {}
        self.notifications = []
        self.record = None
        self.fields = {}

    @classmethod
    async def open(cls, daphne, page="test-probe", record="10000", timeout=15):
        import websockets

        ws = await websockets.connect(daphne.ws_url, origin=f"http://127.0.0.1:{daphne.port}", max_queue=None,
                                      open_timeout=timeout)
        self = cls(ws, daphne)
        await self.send(type="page.open", page=page, record=record)
        state = await self.until(lambda f: f["type"] == "page.state", timeout)
        self.session = state["session"]  # the parent session id the workers log
        return self

    async def send(self, **frame):
        await self.ws.send(json.dumps(frame))

    async def receive(self, timeout):
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        if frame["type"] == "task.state":
            self.tasks[frame["task_id"]] = frame
        elif frame["type"] == "notification":
            self.notifications.append(frame)
        elif frame["type"] == "page.state":
            self.record = frame["record"]
            self.fields = dict(frame["fields"])
        elif frame["type"] == "field.update":
            self.fields.update(frame["fields"])
        return frame

    async def until(self, predicate, timeout=15):
        """Receive until ``predicate(frame)``; returns that frame."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame within {timeout} s; last frames: {self.frames[-8:]}")
            try:
                frame = await self.receive(remaining)
            except (asyncio.TimeoutError, TimeoutError):
                raise TimeoutError(f"no matching frame within {timeout} s; last frames: {self.frames[-8:]}") from None
            if predicate(frame):
                return frame

    async def enqueue(self, codeunit, parameters=None, timeout=None):
        """Enqueue through the probe page's ``enqueue`` action; returns the task id."""
        known = set(self.tasks)
        args = {"codeunit": codeunit, "parameters": parameters or {}}
        if timeout is not None:
            args["timeout"] = timeout
        await self.send(type="page.action", action="enqueue", args=args)
        frame = await self.until(lambda f: f["type"] == "task.state" and f["task_id"] not in known)
        return frame["task_id"]

    async def task_state(self, task_id, states=("completed", "failed", "cancelled"), timeout=15):
        """Wait until task ``task_id`` is in one of ``states``; returns its frame."""
        if task_id in self.tasks and self.tasks[task_id]["state"] in states:
            return self.tasks[task_id]
        return await self.until(
            lambda f: f["type"] == "task.state" and f["task_id"] == task_id and f["state"] in states, timeout
        )

    async def until_closed(self, timeout=15):
        """Receive every frame until the server closes the connection; returns its close code."""
        import websockets

        with contextlib.suppress(websockets.ConnectionClosed):
            await self.until(lambda f: False, timeout)
        return self.ws.close_code

    async def field(self, name, value, timeout=15):
        """Wait until field ``name`` shows ``value``."""
        if self.fields.get(name) != value:
            await self.until(lambda f: f["type"] in ("page.state", "field.update") and self.fields.get(name) == value, timeout)

    async def close(self):
        with contextlib.suppress(Exception):
            await self.ws.close()


class CpuMeter:
    """CPU use of a process and of every process under it (a worker and its child
    sessions), in CPU seconds per second since the previous reading."""

    MIN_WINDOW_S = 0.3

    def __init__(self, pid):
        self.pid = pid
        self.last, self.at = self._read(), time.monotonic()

    def _read(self):
        import psutil

        seen = {}
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return seen
        for process in processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                seen[process.pid] = times.user + times.system
        return seen

    def rate(self):
        """CPU s/s since the last reading; None when less than MIN_WINDOW_S passed."""
        now = time.monotonic()
        if now - self.at < self.MIN_WINDOW_S:
            return None
        current = self._read()
        used = sum(cpu - self.last.get(pid, 0.0) for pid, cpu in current.items())
        rate = max(0.0, used) / (now - self.at)
        self.last, self.at = current, now
        return rate

    def below(self, limit):
        rate = self.rate()
        return rate is not None and rate < limit

    def above(self, limit):
        rate = self.rate()
        return rate is not None and rate > limit


def cpu_seconds(processes):
    """Total user+system CPU seconds of ``processes`` (gone ones count as 0)."""
    import psutil

    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def wait_until(condition, timeout, interval=0.1, message="condition"):
    """Poll ``condition()`` until it is true; raise TimeoutError after ``timeout``.

    For states only the operating system can tell (a process's CPU use, whether
    it is alive): each poll looks at the state itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not reached within {timeout} s")
        time.sleep(interval)


async def await_until(condition, timeout, interval=0.1, message="condition"):
    """``wait_until`` for async tests: the event loop keeps running between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not reached within {timeout} s")
        await asyncio.sleep(interval)
