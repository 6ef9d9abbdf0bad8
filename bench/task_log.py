"""``python -m bench.task_log``: what recording a task in the task log costs.

Prints, per task:

- the hot path: ``tasks.tasklog.record`` as the parent session calls it when a
  task ends (an append to a buffer; no database write);
- the write: ``flush()`` of a batch with ``bulk_create``, per row (done by the
  log's own thread, off the page's path);

each as a figure and as a ratio against a no-op task round trip without the log
(page action -> enqueue -> channel layer -> worker -> child session -> outcome ->
completion trigger -> ``field.update``), measured in this process through the real
consumer, in-memory layer and embedded worker, with ``record`` switched off. The
same round trip with the log on is printed beside it.

Runs on a fresh SQLite database in a temporary folder (never the project's).
``--quick`` is a smoke run.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

ROUND_TRIPS = 300
RECORDS = 20_000
FLUSH_BATCH = 5_000


def setup(folder):
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{folder}/task_log.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


async def round_trips(count, warmup=30):
    """Milliseconds of ``count`` no-op task round trips on page bench-noop."""
    from channels.testing import WebsocketCommunicator

    from bcpages.asgi import application
    from tasks.embedded import stop_embedded_worker

    communicator = WebsocketCommunicator(application, "/ws/pages/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected, "the page consumer refused the connection"
    await communicator.send_to(text_data=json.dumps({"type": "page.open", "page": "bench-noop", "record": ""}))
    while json.loads(await communicator.receive_from(30))["type"] != "page.state":
        pass
    run = json.dumps({"type": "page.action", "action": "run", "args": {}})
    samples = []
    for index in range(warmup + count):
        start = time.perf_counter()
        await communicator.send_to(text_data=run)
        while True:
            frame = json.loads(await communicator.receive_from(30))
            if frame["type"] == "field.update" and frame["field_states"].get("count") == "ok":
                break
        if index >= warmup:
            samples.append((time.perf_counter() - start) * 1000)
    await communicator.disconnect()
    await stop_embedded_worker()
    return samples


def record_cost(count):
    """Microseconds per ``tasklog.record`` call, on ended tasks of a real session."""
    from bcpages.session import ParentSession
    from tasks import tasklog
    from tasks.messages import COMPLETED
    from tasks.queue import Task

    session = ParentSession()
    session.open("bench-noop", "")
    now = time.monotonic()
    tasks = [
        Task(task_id, 99000, "noop", {"a": "b"}, 1000, "error", "", enqueued_at=now - 0.002, state=COMPLETED,
             started_at=now - 0.001, ended_at=now)
        for task_id in range(1, 201)
    ]
    tasklog.clear()
    start = time.perf_counter()
    for index in range(count):
        tasklog.record(session, tasks[index % len(tasks)])
    elapsed = time.perf_counter() - start
    tasklog.clear()
    return elapsed / count * 1e6, session, tasks


def flush_cost(session, tasks, count, batch):
    """Microseconds per row written by ``flush`` in batches of ``batch``."""
    from tasks import tasklog
    from tasks.models import TaskLogEntry

    written, elapsed = 0, 0.0
    while written < count:
        for index in range(batch):
            tasklog.record(session, tasks[index % len(tasks)])
        start = time.perf_counter()
        written += tasklog.flush()
        elapsed += time.perf_counter() - start
    TaskLogEntry.objects.all().delete()
    return elapsed / written * 1e6


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.task_log", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer samples")
    args = parser.parse_args(argv)
    trips, records = (60, 2_000) if args.quick else (ROUND_TRIPS, RECORDS)
    with tempfile.TemporaryDirectory(prefix="bcpages-bench-log-") as folder:
        setup(folder)
        from tasks import tasklog

        real_record = tasklog.record
        tasklog.record = lambda session, task: None  # the round trip without the log
        try:
            without = median(asyncio.run(round_trips(trips)))
        finally:
            tasklog.record = real_record
        with_log = median(asyncio.run(round_trips(trips)))
        tasklog.clear()
        record_us, session, tasks = record_cost(records)
        flush_us = flush_cost(session, tasks, records, min(FLUSH_BATCH, records))

    total_us = record_us + flush_us
    rows = [
        ("no-op task round trip p50, without the log", f"{without:.3f} ms", ""),
        ("no-op task round trip p50, with the log", f"{with_log:.3f} ms", f"{with_log / without:.2f} x without"),
        ("recording, hot path (record: a buffer append)", f"{record_us:.2f} us/task", f"{record_us / 1000 / without:.2%} of a round trip"),
        ("recording, write (bulk_create, log thread)", f"{flush_us:.2f} us/task", f"{flush_us / 1000 / without:.2%} of a round trip"),
        ("recording, total CPU", f"{total_us:.2f} us/task", f"{total_us / 1000 / without:.2%} of a round trip"),
    ]
    width = max(len(name) for name, _, _ in rows)
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>14}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
