"""``python -m bench.child_sessions``: what child processes cost and how fast they stop.

- cancel-to-stopped latency (p50, p99) of a busy loop, a sleep and a long SQL
  query: from ``cancel()`` on the awaiting asyncio task until ``pool.run``
  returned, which it does once the codeunit stopped (or its process was killed);
- the per-task overhead of the pool: a no-op codeunit through ``pool.run``
  against the same codeunit run inline with ``execute`` in this process.

These are the pool's own figures, beside scenario 4 (bench/cancellation.py),
which measures a cancel end to end, from the browser's navigation to the child
process no longer using CPU.

Bounded: a fixed number of runs, each with a timeout. Uses DATABASE_URL when it
is set (PostgreSQL: the database must be migrated), else a temporary SQLite
file. Every figure is measured ``--repeats`` times (3 by default); ``--quick``
runs fewer cancels and no-op tasks per repeat; ``--json`` prints the figures,
a list of one value per repeat each, as JSON (for ``python -m bench``, which
calls ``figures()``).
"""

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time

CANCEL_AFTER_S = 0.03  # how long a codeunit runs before it is cancelled


def _percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def _cancel_latencies(pool, codeunit_id, parameters, repeats):
    from tasks.messages import TaskRun

    latencies, killed = [], 0
    for number in range(repeats):
        pids = set(pool.pids())
        running = asyncio.ensure_future(pool.run(TaskRun("bench", number, codeunit_id, parameters, 60_000)))
        await asyncio.sleep(CANCEL_AFTER_S)  # let it run: this is the measured situation, not a wait
        cancelled = time.perf_counter()
        running.cancel()
        try:
            await running
        except asyncio.CancelledError:
            pass
        latencies.append((time.perf_counter() - cancelled) * 1000)
        killed += bool(pids - set(pool.pids()))
    return latencies, killed


async def _overhead(pool, count):
    from tasks import catalogue
    from tasks.child_session import execute
    from tasks.messages import TaskRun

    run = TaskRun("bench", 0, catalogue.NOOP, {}, 10_000)
    for _ in range(20):  # warm both paths
        await pool.run(run)
        execute(run)
    started = time.perf_counter()
    for _ in range(count):
        await pool.run(run)
    pooled = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for _ in range(count):
        execute(run)
    inline = (time.perf_counter() - started) / count * 1e6
    return pooled, inline


async def _measure(quick, repeats):
    from django.db import connection

    from tasks import catalogue, conf
    from tasks.child_session import ChildSessionPool

    runs = 5 if quick else 30  # cancels of each codeunit per repeat
    pool = ChildSessionPool(2)
    try:
        results = {"database": connection.vendor, "cancel_grace_ms": conf.get("CANCEL_GRACE_MS"), "cancel": {},
                   "overhead": {"pool_us": [], "inline_us": [], "ratio": []}}
        for _ in range(repeats):
            for label, codeunit_id, parameters in (
                ("busy loop", catalogue.BUSY_LOOP, {}),
                ("sleep", catalogue.SLEEP_MS, {"ms": "600000"}),
                ("long query", catalogue.LONG_QUERY, {}),
            ):
                latencies, killed = await _cancel_latencies(pool, codeunit_id, parameters, runs)
                row = results["cancel"].setdefault(label, {"p50_ms": [], "p99_ms": [], "runs": 0, "killed": 0})
                row["p50_ms"].append(statistics.median(latencies))
                row["p99_ms"].append(_percentile(latencies, 99))
                row["runs"] += runs
                row["killed"] += killed
            pooled, inline = await _overhead(pool, 200 if quick else 2000)
            results["overhead"]["pool_us"].append(pooled)
            results["overhead"]["inline_us"].append(inline)
            results["overhead"]["ratio"].append(pooled / inline)
        return results
    finally:
        pool.close()


def measure(quick=False, repeats=3):
    """Set Django up in this process (a temporary SQLite database unless DATABASE_URL
    is set) and return the figures as a dict (a list of one value per repeat each)."""
    folder = None
    if "DATABASE_URL" not in os.environ:
        folder = tempfile.TemporaryDirectory(prefix="bcpages-bench-child-sessions-")
        os.environ["DATABASE_URL"] = f"sqlite:///{folder.name}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from tasks.child_role import ensure_child_session_role

    if "tasks.catalogue" not in settings.BCPAGES.get("CODEUNIT_MODULES", []):
        import tasks.catalogue  # noqa: F401  (the codeunits measured here)
    logging.getLogger("tasks").setLevel(logging.WARNING)  # not a line per cancel
    connection.ensure_connection()  # creates the SQLite file the children open read-only
    ensure_child_session_role(connection)
    connection.close()
    try:
        return asyncio.run(_measure(quick, repeats))
    finally:
        if folder is not None:
            folder.cleanup()


def table(results):
    """The medians of the repeats."""
    lines = [
        f"Child sessions on {results['database']} (CANCEL_GRACE_MS={results['cancel_grace_ms']}), "
        "medians of the repeats",
        "",
        "| cancelled codeunit | runs | cancel-to-stopped p50 | p99 | processes killed |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in results["cancel"].items():
        lines.append(f"| {label} | {row['runs']} | {statistics.median(row['p50_ms']):.2f} ms | "
                     f"{statistics.median(row['p99_ms']):.2f} ms | {row['killed']} |")
    overhead = {key: statistics.median(values) for key, values in results["overhead"].items()}
    lines += [
        "",
        "| no-op codeunit | per task |",
        "|---|---:|",
        f"| pool.run (child process) | {overhead['pool_us']:.1f} us |",
        f"| execute (inline, this process) | {overhead['inline_us']:.1f} us |",
        f"| ratio pool / inline | {overhead['ratio']:.1f}x |",
    ]
    return "\n".join(lines) + "\n"


def figures(quick=False, repeats=3):
    """For ``python -m bench``: the figures, measured in a process of their own."""
    from bench.common import Figure

    command = [sys.executable, "-m", "bench.child_sessions", "--json", "--repeats", str(repeats)]
    command += ["--quick"] if quick else []
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
    results = json.loads(output)
    found = []
    for label, row in results["cancel"].items():
        found.append(Figure("child sessions", f"pool.run: cancel to stopped, {label} p50", "ms", row["p50_ms"]))
        found.append(Figure("child sessions", f"pool.run: cancel to stopped, {label} p99", "ms", row["p99_ms"]))
    overhead = results["overhead"]
    found.append(Figure("child sessions", "no-op task through the pool", "us", overhead["pool_us"]))
    found.append(Figure("child sessions", "no-op task inline (execute)", "us", overhead["inline_us"]))
    found.append(Figure("child sessions", "pool / inline per-task ratio", "x", overhead["ratio"]))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.child_sessions", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="how many times each figure is measured")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = measure(args.quick, max(1, args.repeats))
    sys.stdout.write(json.dumps(results) + "\n" if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
