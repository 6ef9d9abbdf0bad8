"""Scenario 4: cancellation, end to end. A page (``bench-cancel``, bench/pages.py)
starts a busy loop, a sleep or a long SQL query in a child session; once a
child session runs it (``bcpages_child_sessions_active`` on /metrics) and has run
it for ``RUN_S``, the client navigates to another record (a ``page.navigate`` frame,
which cancels the old record's tasks, S14) and measures:

- the time from sending that frame until the child session process stops using
  CPU: the bench client polls the CPU time of the server's child processes
  (psutil finds them; /proc/<pid>/schedstat gives their CPU time in nanoseconds
  where it exists, psutil's 10 ms clock ticks elsewhere) until none has grown for
  ``QUIET_S``; the stop is the last poll that saw a growth (or the process gone);
  p50 and p99 per codeunit;
- the fraction of cancelled tasks whose late outcome the server still had to
  drop (bench/views.py's counter, ``tasks.metrics.late_outcomes_dropped``): a late
  result (the codeunit completed or failed after the cancel), and the worker's
  own "cancelled" reply, which the parent drops too.

Bounded: a fixed number of runs, every wait with a deadline; only 127.0.0.1.
"""

import asyncio
import json
import time
import urllib.request

import psutil
import websockets

from bench.common import Figure, origin, percentile

SCENARIO = "4 cancellation"
STOPPED = "navigate to child stopped, "  # the latency figures' names: STOPPED + kind + " p50" / " p99"
KINDS = ("busy loop", "sleep", "long query")  # bench.pages.CANCELLED_CODEUNITS
RECORD = "10000"  # a demo customer; the navigation alternates between it and the next one
# How long a codeunit runs in its child session before the navigation: the measured
# situation (a task well under way), not a synchronisation.
RUN_S = 0.05
POLL_S = 0.001
# A child that has not used CPU for this long has stopped (a process does not
# idle that long inside a running codeunit's loop).
QUIET_S = 0.1
# Bounds: the task reaching a child session; the child stopping (CANCEL_GRACE_MS,
# then a kill, is 0.2 s by default); the late outcomes arriving at the server.
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
OUTCOMES_TIMEOUT_S = 5.0


def _cpu_ns(pid):
    """CPU time of process ``pid`` in ns, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(sum(psutil.Process(pid).cpu_times()[:2]) * 1e9)
    except psutil.Error:
        return None


def _children(process):
    try:
        return [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    except psutil.Error:
        return []


def _get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def _running_in_child(port):
    """How many tasks of the server's pages a child session runs (/metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("bcpages_child_sessions_active "):
                return float(line.split()[1])
    return 0.0


async def _until(condition, timeout, what, frames=()):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"scenario 4: {what} within {timeout} s; the page's last frames: {list(frames)[-5:]}")
        await asyncio.sleep(POLL_S * 10)


async def _stopped_after(last, started):
    """Seconds from ``started`` until the processes ``last`` ({pid: CPU time read
    before ``started``}) stopped using CPU."""
    pids, changed = list(last), started
    deadline = started + STOP_TIMEOUT_S
    while True:
        await asyncio.sleep(POLL_S)
        now = time.perf_counter()
        for pid in pids:
            cpu = _cpu_ns(pid)
            if cpu != last[pid]:
                last[pid] = cpu
                changed = now
        if now - changed >= QUIET_S:
            return changed - started
        if now > deadline:
            raise TimeoutError(f"scenario 4: a child session still used CPU {STOP_TIMEOUT_S} s after the navigation")


async def _receive_all(ws, frames):
    """Keep reading the page's frames (so that the server never waits on us)."""
    async for text in ws:
        frames.append(json.loads(text))


async def measure(port, process, runs):
    """{kind: [ms from the navigate frame to the child stopped]} and the number of
    tasks the server reported cancelled."""
    latencies = {kind: [] for kind in KINDS}
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/pages/", origin=origin(port), max_queue=None)
    frames = []
    try:
        await ws.send(json.dumps({"type": "page.open", "page": "bench-cancel", "record": RECORD}))
        reader = asyncio.ensure_future(_receive_all(ws, frames))
        await _until(lambda: any(f["type"] == "page.state" for f in frames), START_TIMEOUT_S, "the page opened", frames)
        step = "next"
        for number in range(runs):
            for kind in KINDS:
                await ws.send(json.dumps({"type": "page.action", "action": "start", "args": {"kind": kind}}))
                await _until(lambda: _running_in_child(port) >= 1, START_TIMEOUT_S, f"the {kind} ran in a child session", frames)
                await asyncio.sleep(RUN_S)  # it runs: the measured situation
                cpu = {pid: _cpu_ns(pid) for pid in _children(process)}
                started = time.perf_counter()
                await ws.send(json.dumps({"type": "page.navigate", "step": step}))
                latencies[kind].append(await _stopped_after(cpu, started) * 1000)
                step = "previous" if step == "next" else "next"
        # The last navigation's frames, its cancelled task's state among them.
        await _until(lambda: _cancelled(frames) == runs * len(KINDS), START_TIMEOUT_S, "every task was cancelled", frames)
        reader.cancel()
    finally:
        await ws.close()
    return latencies, _cancelled(frames)


def _cancelled(frames):
    return sum(1 for f in frames if f["type"] == "task.state" and f["state"] == "cancelled")


def figures(port, process, repeats, runs):
    """Per repeat: ``runs`` navigations away from each codeunit, p50 and p99 each."""
    rows = {}
    for kind in KINDS:
        rows[kind] = (Figure(SCENARIO, f"{STOPPED}{kind} p50", "ms"), Figure(SCENARIO, f"{STOPPED}{kind} p99", "ms"))
    late = Figure(SCENARIO, "cancelled tasks whose late result was dropped", "%")
    replies = Figure(SCENARIO, "cancelled tasks whose 'cancelled' reply was dropped", "%")
    for _ in range(repeats):
        before = _get_json(port, "/bench/late-outcomes/")
        latencies, cancelled = asyncio.run(measure(port, process, runs))
        expected = sum(before.values()) + cancelled
        deadline = time.monotonic() + OUTCOMES_TIMEOUT_S
        after = _get_json(port, "/bench/late-outcomes/")
        # Bounded: an outcome that never comes (the layer dropped it) is not counted.
        while sum(after.values()) < expected and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a counter with a deadline
            after = _get_json(port, "/bench/late-outcomes/")
        dropped = {state: after.get(state, 0) - before.get(state, 0) for state in after}
        for kind in KINDS:
            rows[kind][0].samples.append(percentile(latencies[kind], 50))
            rows[kind][1].samples.append(percentile(latencies[kind], 99))
        results = sum(count for state, count in dropped.items() if state != "cancelled")
        late.samples.append(100 * results / max(cancelled, 1))
        replies.samples.append(100 * dropped.get("cancelled", 0) / max(cancelled, 1))
    return [figure for pair in rows.values() for figure in pair] + [late, replies]
