"""What every benchmark scenario shares: a server it starts itself on 127.0.0.1,
websocket clients, and statistics. Bounded: every loop has a count and a deadline."""

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Figure:
    """One measured figure: its repeats, and how to print it."""

    scenario: str
    name: str
    unit: str
    samples: list = field(default_factory=list)
    better: str = "lower"  # or "higher"
    #: A row of the ratio table that this figure brings (``ratio_row``), or None.
    target: tuple | None = None

    @property
    def median(self):
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def spread(self):
        """(max - min) / median: how much the repeats disagree."""
        if len(self.samples) < 2 or not self.median:
            return 0.0
        return (max(self.samples) - min(self.samples)) / self.median


def ratio_row(label, value, target, better="lower"):
    """A row of the ratio table: (label, value, target as text, verdict)."""
    met = value <= target if better == "lower" else value >= target
    return (label, value, ("<=" if better == "lower" else ">=") + f" {target}", "met" if met else "MISSED")


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(*args, env, timeout=300):
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextlib.contextmanager
def database(demo_lines=None):
    """A fresh SQLite database for the bench server: migrated, with the three test
    customers, or with the demo data when ``demo_lines`` is given."""
    with tempfile.TemporaryDirectory(prefix="bcpages-bench-") as folder:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings",
               "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3", "PYTHONPATH": str(ROOT)}
        manage("migrate", "--noinput", env=env)
        if demo_lines:
            manage("load_demo_data", "--lines", str(demo_lines), env=env)
        else:
            manage("shell", "-c", "from tests.factories import make_customers; make_customers()", env=env)
        yield env


@contextlib.contextmanager
def server(env, extra_env=None, deadline=30):
    """Daphne serving bench.asgi on a free port; yields (port, process)."""
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.asgi:application"],
        cwd=ROOT, env={**env, **(extra_env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        end = time.monotonic() + deadline
        for line in process.stderr:
            if "Listening on" in line or time.monotonic() > end:
                break
        if process.poll() is not None:
            raise RuntimeError(f"Daphne exited with {process.returncode}")
        # Keep draining its output so that it never blocks on a full pipe.
        import threading

        threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def origin(port):
    return f"http://127.0.0.1:{port}"


def process_cpu_seconds(process):
    """CPU seconds of a process and all its children (child sessions included)."""
    import psutil

    try:
        root = psutil.Process(process.pid)
        total = sum(root.cpu_times()[:2])
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += sum(child.cpu_times()[:2])
        return total
    except psutil.Error:
        return float("nan")


def rss_bytes(process):
    import psutil

    return psutil.Process(process.pid).memory_info().rss
