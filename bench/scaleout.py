"""Scenario 6: scaled out. Scenarios 1 and 2 over channels_redis with one, then two
``runworker bcpages.tasks`` processes behind one Daphne, beside the bare Redis
layer round trip; and CPU-bound codeunits with one and two workers (target: two
workers >= 1.7x one).

- no-op task round trip p50, p99, one and two workers, beside the baseline: a
  frame through the Redis layer to a worker process that echoes it and back
  (``/ws/bench/layer-echo/`` and ``bench.echo_worker``);
- no-op tasks/s with 100 pages, one and two workers;
- busy-loop tasks/s (``BUSY_LOOP_MS`` of CPU each), one and two workers, and
  the ratio two / one.

Real processes on 127.0.0.1 (``tests.scaleout.cluster.Deployment``): a fresh
PostgreSQL database, a Redis key prefix of its own, Daphne serving ``bench.asgi``
and the workers, started the way docs/deployment.md says. Every load is bounded
in count and time; every process is stopped and the database dropped at the end,
even on error.
"""

import asyncio
import json
import os

from bench import roundtrip
from bench.common import Figure, percentile, ratio_row
from bench.roundtrip import RUN, open_page, task_round_trip
from bench.throughput import run_for
from tests.scaleout.cluster import PYTHON, STARTUP_TIMEOUT_S, Daphne, Deployment, Service, Worker

SCENARIO = "6 scale-out"
# CPU each busy-loop task burns: long beside a task's own cost (a few ms), so that
# the figure measures the workers' cores, not the path to them.
BUSY_LOOP_MS = 100
BUSY_RUN = json.dumps({"type": "page.action", "action": "run", "args": {"ms": str(BUSY_LOOP_MS)}})
NOOP_PAGES = 100
# More pages than child sessions in all, so that a backlog always waits in Redis
# and no child session idles between two tasks.
BUSY_PAGES = 8
# Child sessions per worker. No-op tasks: the bench's default, as a deployment runs
# them. CPU-bound: one, because this machine has two cores: a worker with two child
# sessions would already keep both busy and a second worker could add nothing, so
# the ratio would measure the cores, not the scale-out. With one each, one worker
# uses one core and two workers use both.
NOOP_CHILD_SESSIONS = 2
BUSY_CHILD_SESSIONS = 1
WARMUP_S = 1.0
# Bound of one measurement (an asyncio.run, its repeats) beyond its own duration.
MEASURE_TIMEOUT_S = 120


def figures(quick=False, repeats=3):
    count = 100 if quick else 1000  # round trips per repeat
    noop_s = 1.0 if quick else 5.0
    busy_s = 2.0 if quick else 10.0

    p50 = {n: Figure(SCENARIO, f"no-op task p50, Redis, {_workers(n)}", "ms") for n in (1, 2)}
    p99 = {n: Figure(SCENARIO, f"no-op task p99, Redis, {_workers(n)}", "ms") for n in (1, 2)}
    layer = Figure(SCENARIO, "baseline: Redis layer + runworker echo p50", "ms")
    noop = {n: Figure(SCENARIO, f"no-op tasks/s, {NOOP_PAGES} pages, {_workers(n)}", "1/s", better="higher")
            for n in (1, 2)}
    busy = {n: Figure(SCENARIO, f"busy loop {BUSY_LOOP_MS} ms tasks/s, {BUSY_PAGES} pages, {_workers(n)}", "1/s",
                      better="higher") for n in (1, 2)}

    # INFO, where the scaled-out tests' workers log at DEBUG: a line per task would
    # cost the workers, and this process, which reads every line of their output.
    deployment = Deployment(name=f"bcpages_bench_{os.getpid()}", settings="bench.settings",
                            extra_env={"BCPAGES_LOG_LEVEL": "INFO"})
    try:
        deployment.create_database()
        daphne = _started(deployment, Daphne("daphne", deployment.env(), application="bench.asgi:application")).ready()
        echo = _started(deployment, Service("echo-worker", [PYTHON, "-m", "bench.echo_worker"], deployment.env()))
        echo.output.wait_for(r"echo_worker_ready", STARTUP_TIMEOUT_S)

        workers = []
        for n in (1, 2):
            workers.append(_worker(deployment, NOOP_CHILD_SESSIONS))
            for _ in range(repeats):
                # Scenario 1's measure: its layer echo now crosses Redis to bench.echo_worker
                # (the baseline: measured with each worker count, reported once).
                samples = _run(roundtrip.measure(daphne.port, count), count * 0.1)
                p50[n].samples.append(percentile(samples["task"], 50))
                p99[n].samples.append(percentile(samples["task"], 99))
                layer.samples.append(percentile(samples["layer"], 50))
            noop[n].samples += _run(_tasks_per_second(daphne.port, "bench-noop", RUN, NOOP_PAGES, noop_s, repeats),
                                    noop_s * repeats)

        for worker in workers:
            worker.stop()
        workers = []
        for n in (1, 2):
            workers.append(_worker(deployment, BUSY_CHILD_SESSIONS))
            busy[n].samples += _run(_tasks_per_second(daphne.port, "bench-busy-loop", BUSY_RUN, BUSY_PAGES, busy_s, repeats),
                                    busy_s * repeats)
    finally:
        deployment.close()

    p50[1].target = ratio_row("no-op round trip, Redis / bare Redis layer round trip", _ratio(p50[1], layer), 1.0)
    p50[2].target = ratio_row("no-op round trip, Redis, 2 workers / bare Redis layer round trip",
                              _ratio(p50[2], layer), 1.0)
    # Shown without a target (the README sets none): whether no-op tasks gain from
    # a second worker, or are bound by the one Daphne process.
    noop[2].target = ("no-op tasks/s, 2 workers / 1 worker", _ratio(noop[2], noop[1]), "none", "")
    busy[2].target = ratio_row(f"busy loop {BUSY_LOOP_MS} ms tasks/s, 2 workers / 1 worker",
                               _ratio(busy[2], busy[1]), 1.7, "higher")
    return [p50[1], p99[1], p50[2], p99[2], layer, noop[1], noop[2], busy[1], busy[2]]


def _ratio(figure, baseline):
    return figure.median / baseline.median if baseline.median else float("nan")


def _workers(n):
    return f"{n} worker{'s' if n > 1 else ''}"


def _started(deployment, service):
    """``service``, owned by ``deployment`` (which stops it on close)."""
    deployment.services.append(service)
    return service


def _worker(deployment, child_sessions):
    """A new ``runworker bcpages.tasks`` process with ``child_sessions``, once ready."""
    worker = _started(deployment, Worker(f"worker-{len(deployment.services)}",
                                         deployment.env(BCPAGES_CHILD_SESSIONS=str(child_sessions))))
    worker.ready()
    # The same line, read again: the figures hold only with the child sessions asked for.
    found = int(worker.output.wait_for(r"worker_ready channel=\S+ child_sessions=(\d+)", 1).group(1))
    if found != child_sessions:
        raise RuntimeError(f"{worker} runs {found} child sessions, not the {child_sessions} scenario 6 asked for.")
    return worker


def _run(measurement, seconds):
    """Run the coroutine ``measurement`` (about ``seconds`` long), bounded in time."""
    return asyncio.run(asyncio.wait_for(measurement, seconds + MEASURE_TIMEOUT_S))


async def _tasks_per_second(port, page, run, pages, seconds, repeats):
    """Tasks per second of ``pages`` copies of bench page ``page``, each sending
    ``run`` again as soon as its task completed: ``repeats`` measurements of
    ``seconds`` on the same pages, after one warm-up."""
    clients = [await open_page(port, page) for _ in range(pages)]

    def step(client):
        return task_round_trip(client, run)

    try:
        await run_for(clients, step, WARMUP_S)
        return [(await run_for(clients, step, seconds)).in_time / seconds for _ in range(repeats)]
    finally:
        await asyncio.gather(*(client.close() for client in clients))
