"""A real server for browser tests and screenshots.

``live_server(directory)`` migrates a fresh SQLite file in ``directory``, fills it
with ``tests.factories.make_customers()``, and serves it with Daphne in a
subprocess, exactly as a deployment would run (the embedded default: in-memory
channel layer, worker inside Daphne). ``launch_chromium(playwright)`` starts
Debian's Chromium. Both are plain functions so that ``docs/screenshots/take.py``
can use them without pytest.
"""

import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Daphne logs this once its socket listens; with "-p 0" it names the port it got.
LISTENING = re.compile(r"Listening on TCP address [\d.]+:(\d+)")
STARTUP_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
# Migrations and test data in one Django start-up (each start costs a second).
SETUP_DATABASE = (
    "from django.core.management import call_command; "
    "call_command('migrate', interactive=False, verbosity=0); "
    "from tests.factories import make_customers; "
    "make_customers()"
)


@dataclass
class LiveServer:
    url: str
    database: Path
    process: subprocess.Popen
    #: The server's last lines of output, for failure messages.
    output: collections.deque


def server_environment(database, settings="tests.settings"):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=settings, DATABASE_URL=f"sqlite:///{database}", PYTHONUNBUFFERED="1")
    # The embedded default: without REDIS_URL the worker runs inside Daphne.
    env.pop("REDIS_URL", None)
    return env


def prepare_database(env):
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SETUP_DATABASE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Preparing the test database failed:\n{result.stdout}\n{result.stderr}")


class _OutputReader(threading.Thread):
    """Reads the server's output to its end (a full pipe would block the server)
    and announces the port from Daphne's "Listening on" line."""

    def __init__(self, stream):
        super().__init__(daemon=True, name="daphne-output")
        self.stream = stream
        self.lines = collections.deque(maxlen=300)
        self.port = None
        self.ready = threading.Event()  # set once the port is known or the output ended

    def run(self):
        for line in self.stream:
            self.lines.append(line.rstrip())
            match = LISTENING.search(line) if self.port is None else None
            if match:
                self.port = int(match.group(1))
                self.ready.set()
        self.ready.set()


@contextlib.contextmanager
def live_server(directory, settings="tests.settings"):
    """Serve a fresh test database from ``directory``; yields a LiveServer."""
    database = Path(directory) / "bcpages.sqlite3"
    env = server_environment(database, settings)
    prepare_database(env)
    process = subprocess.Popen(
        # Port 0: the system picks a free port, and Daphne reports it.
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "0", "tests.browser.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # Its own process group, so that stopping it also stops anything it started.
        start_new_session=True,
    )
    reader = _OutputReader(process.stdout)
    reader.start()
    try:
        if not reader.ready.wait(STARTUP_TIMEOUT_S) or reader.port is None:
            output = "\n".join(reader.lines)
            raise RuntimeError(f"Daphne did not report 'Listening on' within {STARTUP_TIMEOUT_S} s:\n{output}")
        yield LiveServer(f"http://127.0.0.1:{reader.port}", database, process, reader.lines)
    finally:
        stop(process)


def stop(process):
    """Terminate the server, kill it if it lingers, then anything left in its group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def chromium():
    """Debian's Chromium through Playwright's sync API, for a fixture to yield.
    Without Chromium the test is skipped, except under CI=true, where it fails."""
    import pytest
    from playwright.sync_api import sync_playwright

    from tests.services import in_ci

    if not os.path.exists(CHROMIUM):
        reason = f"Browser tests need Debian's Chromium at {CHROMIUM} (`make chromium` installs it)."
        if in_ci():
            pytest.fail(f"{reason} CI=true: the browser tests must run.")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()
