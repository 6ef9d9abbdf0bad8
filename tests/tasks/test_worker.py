"""The Channels worker: slots, cancels, and runs cancelled before they arrived."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from tasks import catalogue
from tasks.messages import TaskCancel, TaskRun

pytestmark = pytest.mark.django_db(transaction=True)


async def test_worker_runs_a_task_and_reports_started_then_the_outcome(embedded_worker):  # S1
    layer = get_channel_layer()
    reply = await layer.new_channel()
    await layer.send("bcpages.tasks", TaskRun("s1", 1, catalogue.ECHO_PARAMETERS, {"a": "b"}, 5000, reply).message())
    async with asyncio.timeout(10):
        started = await layer.receive(reply)
        outcome = await layer.receive(reply)
    assert started["type"] == "task.started" and started["worker_channel"]
    assert (outcome["type"], outcome["state"], outcome["results"]) == ("task.outcome", "completed", {"a": "b"})


async def test_worker_drops_a_run_that_was_cancelled_before_it_arrived(embedded_worker):  # S15, S16
    layer = get_channel_layer()
    reply = await layer.new_channel()
    # Let the worker join its group (it does so when it starts).
    await layer.send("bcpages.tasks", TaskRun("warmup", 1, catalogue.NOOP, {}, 5000, reply).message())
    async with asyncio.timeout(10):
        await layer.receive(reply)
        await layer.receive(reply)
    await layer.group_send("bcpages.workers", TaskCancel("s2", 7).message())
    await layer.send("bcpages.tasks", TaskRun("s2", 7, catalogue.ECHO_PARAMETERS, {}, 5000, reply).message())
    await layer.send("bcpages.tasks", TaskRun("s2", 8, catalogue.ECHO_PARAMETERS, {"n": "8"}, 5000, reply).message())
    async with asyncio.timeout(10):
        first = await layer.receive(reply)
    assert first["task_id"] == 8  # task 7 never started


async def test_cancel_stops_a_running_task_and_frees_its_slot(embedded_worker):  # S16
    layer = get_channel_layer()
    reply = await layer.new_channel()
    size = embedded_worker.pool.size
    for task_id in range(1, size + 1):
        await layer.send("bcpages.tasks", TaskRun("s3", task_id, catalogue.SLEEP_MS, {"ms": "30000"}, 60000, reply).message())
    workers = {}
    async with asyncio.timeout(10):
        for _ in range(size):
            started = await layer.receive(reply)
            workers[started["task_id"]] = started["worker_channel"]
    await layer.send(workers[1], TaskCancel("s3", 1).message())
    async with asyncio.timeout(10):
        outcome = await layer.receive(reply)
    assert (outcome["task_id"], outcome["state"]) == (1, "cancelled")
    # Its slot serves the next task while the others still sleep.
    await layer.send("bcpages.tasks", TaskRun("s3", 99, catalogue.NOOP, {}, 5000, reply).message())
    async with asyncio.timeout(10):
        started = await layer.receive(reply)
        done = await layer.receive(reply)
    assert (started["task_id"], done["task_id"], done["state"]) == (99, 99, "completed")
    for task_id in range(2, size + 1):
        await layer.send(workers[task_id], TaskCancel("s3", task_id).message())


def waiting_in_layer(layer, channel="bcpages.tasks"):
    """Task ids of the ``task.run`` messages still in the in-memory layer: no worker took them.
    (Its queues hold (expiry, message) pairs; Channels' own expiry walk reads them the same way.)"""
    queue = layer.channels.get(channel)
    return [message["task_id"] for _, message in queue._queue] if queue is not None else []


async def test_the_worker_leaves_runs_in_the_layer_until_a_child_session_is_free(embedded_worker):
    """DESIGN.md data flow 4: a worker takes a task only when it has a free slot, so
    that several workers share a backlog instead of the first one hoarding it."""
    layer = get_channel_layer()
    reply = await layer.new_channel()
    size = embedded_worker.pool.size

    def sleeper(task_id):
        return TaskRun("s4", task_id, catalogue.SLEEP_MS, {"ms": "30000"}, 60000, reply).message()

    workers = {}
    for task_id in range(1, size + 1):
        await layer.send("bcpages.tasks", sleeper(task_id))
    async with asyncio.timeout(10):
        for _ in range(size):
            started = await layer.receive(reply)
            workers[started["task_id"]] = started["worker_channel"]
    extra, last = size + 1, size + 2
    await layer.send("bcpages.tasks", sleeper(extra))
    await layer.send("bcpages.tasks", sleeper(last))
    assert waiting_in_layer(layer) == [extra, last]

    # Free one slot. Until its outcome the worker had every chance to take the
    # extra runs: had it taken them, their task.started would come first.
    await layer.send(workers[1], TaskCancel("s4", 1).message())
    async with asyncio.timeout(10):
        outcome = await layer.receive(reply)
        assert (outcome["type"], outcome["task_id"], outcome.get("state")) == ("task.outcome", 1, "cancelled")
        started = await layer.receive(reply)
    # The freed slot took the next run, and only that one.
    assert (started["type"], started["task_id"]) == ("task.started", extra)
    workers[extra] = started["worker_channel"]
    assert waiting_in_layer(layer) == [last]

    # Stop everything: each cancel frees a slot, the last run starts there, and stops too.
    async with asyncio.timeout(20):
        for task_id in [*range(2, size + 1), extra]:
            await layer.send(workers[task_id], TaskCancel("s4", task_id).message())
        ended = set()
        while ended != {*range(2, size + 1), extra, last}:
            message = await layer.receive(reply)
            if message["type"] == "task.started":
                await layer.send(message["worker_channel"], TaskCancel("s4", message["task_id"]).message())
            else:
                ended.add(message["task_id"])
    assert waiting_in_layer(layer) == []


async def test_a_cancel_right_behind_its_run_gives_the_slot_back(embedded_worker):  # S16
    """A cancel that reaches the worker just after its run, before the task's
    coroutine has started, must still free the slot: quick navigation does this,
    and every leaked slot left the worker with one child session fewer until it
    took no task at all."""
    layer = get_channel_layer()
    reply = await layer.new_channel()
    await layer.send("bcpages.tasks", TaskRun("w", 1, catalogue.NOOP, {}, 5000, reply).message())
    async with asyncio.timeout(10):
        started = await layer.receive(reply)
        await layer.receive(reply)
    worker_channel = started["worker_channel"]
    size = embedded_worker.pool.size
    # More run-and-cancel pairs than the worker has child sessions.
    for task_id in range(2, 2 + size + 2):
        await layer.send("bcpages.tasks", TaskRun("w", task_id, catalogue.SLEEP_MS, {"ms": "100"}, 5000, reply).message())
        await layer.send(worker_channel, TaskCancel("w", task_id).message())
    last = 2 + size + 2
    await layer.send("bcpages.tasks", TaskRun("w", last, catalogue.ECHO_PARAMETERS, {"n": "last"}, 5000, reply).message())
    async with asyncio.timeout(10):
        while True:
            message = await layer.receive(reply)
            if message["task_id"] == last and message["type"] == "task.outcome":
                break
    assert (message["state"], message["results"]) == ("completed", {"n": "last"})
    # Every child session is still usable: as many sleeping tasks as the worker
    # has child sessions all start before the first of them ends.
    first = last + 1
    for task_id in range(first, first + size):
        await layer.send("bcpages.tasks", TaskRun("w", task_id, catalogue.SLEEP_MS, {"ms": "500"}, 5000, reply).message())
    seen = []
    async with asyncio.timeout(10):
        while len(seen) < size:
            message = await layer.receive(reply)
            if message["task_id"] >= first:
                seen.append(message["type"])
    assert seen == ["task.started"] * size
