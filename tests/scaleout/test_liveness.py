"""Liveness and layer failures, without Redis: the parent's heartbeat, the worker's
silence limit, a consumer whose channel layer becomes unreachable, and runs
delivered twice (channels_redis issue 163: several processes receiving from one
channel can each get the same message).

Unit tests of the scaled-out design (docs/protocol.md, "Liveness"); the same
behaviour against real processes is in test_scaleout.py.
"""

import asyncio
import json

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from bcpages import consumer as consumer_module
from bcpages.session import ParentSession
from tasks import catalogue
from tasks.messages import MISSED_HEARTBEATS, TaskHeartbeat, TaskOutcome, TaskRun, TaskStarted

pytestmark = pytest.mark.django_db(transaction=True)


# The parent side, as plain Python -------------------------------------------
def open_probe(heartbeat_ms, plan):
    from tests.pages import ProbePage

    ProbePage.plan = plan
    try:
        session = ParentSession(reply_channel="reply!1", heartbeat_ms=heartbeat_ms)
        session.open("test-probe", "10000")
    finally:
        ProbePage.plan = []
    return session


def effects(session, kind):
    return [effect for effect in session.drain() if effect[0] == kind]


def test_runs_carry_the_parents_heartbeat_interval(customers):
    session = open_probe(2000, [{"codeunit_id": catalogue.NOOP}])
    (run,) = [effect[1] for effect in effects(session, "run")]
    assert run.heartbeat_ms == 2000
    assert run.message()["heartbeat_ms"] == 2000
    assert TaskRun.from_message(run.message()) == run


def test_without_heartbeats_a_run_says_nothing_about_them(customers):
    session = open_probe(0, [{"codeunit_id": catalogue.NOOP}])
    (run,) = [effect[1] for effect in effects(session, "run")]
    assert "heartbeat_ms" not in run.message()
    # An older parent's run (no field) parses as "no heartbeats".
    assert TaskRun.from_message(run.message()).heartbeat_ms == 0


def test_keep_alive_sends_one_heartbeat_per_worker_naming_its_tasks(customers):
    session = open_probe(1000, [{"codeunit_id": catalogue.SLEEP_MS, "parameters": {"ms": "10000"}}] * 3)
    session.drain()
    session.keep_alive()
    assert session.drain() == []  # no worker has reported a task yet
    session.task_started(TaskStarted(session.session_id, 1, "worker-a!1"))
    session.task_started(TaskStarted(session.session_id, 2, "worker-b!1"))
    session.task_started(TaskStarted(session.session_id, 3, "worker-a!1"))
    session.drain()
    assert session.running_on_workers()

    session.keep_alive()

    beats = {effect[1]: effect[2] for effect in effects(session, "heartbeat")}
    assert beats == {
        "worker-a!1": TaskHeartbeat(session.session_id, (1, 3)),
        "worker-b!1": TaskHeartbeat(session.session_id, (2,)),
    }


def test_ended_tasks_and_closed_pages_get_no_heartbeat(customers):
    session = open_probe(1000, [{"codeunit_id": catalogue.NOOP}] * 2)
    for task_id in (1, 2):
        session.task_started(TaskStarted(session.session_id, task_id, "worker-a!1"))
    session.task_outcome(TaskOutcome(session.session_id, 1, "completed"))
    session.drain()
    session.keep_alive()
    assert [effect[2].task_ids for effect in effects(session, "heartbeat")] == [(2,)]

    session.close()
    session.drain()
    session.keep_alive()
    assert session.drain() == []
    assert not session.running_on_workers()


def test_layer_lost_fails_running_tasks_as_lost_tells_the_user_and_closes(customers):
    """S25 and S15 when the layer is gone: lost at once, told, closed."""
    session = open_probe(
        1000,
        [{"codeunit_id": catalogue.SLEEP_MS, "parameters": {"ms": "10000"}}] * 6,  # five run, one waits
    )
    session.task_started(TaskStarted(session.session_id, 1, "worker-a!1"))
    session.drain()

    session.layer_lost("The channel layer is unreachable.")

    states = {task.task_id: (task.state, task.error.code if task.error else None) for task in session.queue.tasks.values()}
    assert states == {
        1: ("failed", "ChildSessionLost"), 2: ("failed", "ChildSessionLost"), 3: ("failed", "ChildSessionLost"),
        4: ("failed", "ChildSessionLost"), 5: ("failed", "ChildSessionLost"), 6: ("cancelled", None),
    }
    notifications = [effect[1] for effect in session.drain() if effect[0] == "frame" and effect[1]["type"] == "notification"]
    assert [(n["level"], n["text"], n["task_id"]) for n in notifications] == [
        ("error", "The channel layer is unreachable.", task_id) for task_id in (1, 2, 3, 4, 5)
    ]
    assert session.closed


def test_a_second_worker_reporting_the_same_task_is_told_to_stop_and_its_outcome_dropped(customers):
    session = open_probe(1000, [{"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "x"}}])
    session.drain()
    session.task_started(TaskStarted(session.session_id, 1, "worker-a!1"))
    assert session.drain() == []

    session.task_started(TaskStarted(session.session_id, 1, "worker-b!1"))  # the same run, delivered again

    assert [(e[0], e[1], e[2].task_id) for e in session.drain()] == [("cancel", "worker-b!1", 1)]
    # The copy reports that it was cancelled: not the task's outcome.
    session.task_outcome(TaskOutcome(session.session_id, 1, "cancelled", worker_channel="worker-b!1"))
    assert session.queue.tasks[1].state == "running"
    session.task_outcome(TaskOutcome(session.session_id, 1, "completed", {"Echo": "x"}, worker_channel="worker-a!1"))
    assert (session.queue.tasks[1].state, session.page.echo) == ("completed", "x")


def test_outcomes_carry_the_worker_that_ran_them():
    outcome = TaskOutcome("s", 1, "completed", worker_channel="worker-a!1")
    assert TaskOutcome.from_message(outcome.message()) == outcome
    assert "worker_channel" not in TaskOutcome("s", 1, "completed").message()


# The worker side -------------------------------------------------------------
async def test_worker_runs_a_run_delivered_twice_once(embedded_worker):
    layer = get_channel_layer()
    reply = await layer.new_channel()
    twice = TaskRun("dup", 1, catalogue.SLEEP_MS, {"ms": "200"}, 5000, reply).message()
    await layer.send("bcpages.tasks", twice)
    await layer.send("bcpages.tasks", twice)
    await layer.send("bcpages.tasks", TaskRun("dup", 2, catalogue.SLEEP_MS, {"ms": "400"}, 5000, reply).message())
    received = []
    async with asyncio.timeout(10):
        while not any(m["type"] == "task.outcome" and m["task_id"] == 2 for m in received):
            received.append(await layer.receive(reply))
    assert [m["task_id"] for m in received if m["type"] == "task.started"] == [1, 2]
    assert [(m["task_id"], m["worker_channel"]) for m in received if m["type"] == "task.outcome"] == [
        (1, received[0]["worker_channel"]), (2, received[0]["worker_channel"]),
    ]


async def test_worker_cancels_a_task_whose_parent_went_silent(embedded_worker):
    layer = get_channel_layer()
    reply = await layer.new_channel()
    await layer.send("bcpages.tasks", TaskRun("silent", 1, catalogue.SLEEP_MS, {"ms": "30000"}, 60000, reply, heartbeat_ms=100).message())
    async with asyncio.timeout(10):
        started = await layer.receive(reply)
        outcome = await layer.receive(reply)  # nobody sends a heartbeat
    assert started["type"] == "task.started"
    assert (outcome["type"], outcome["task_id"], outcome["state"]) == ("task.outcome", 1, "cancelled")


async def test_heartbeats_keep_a_task_running_past_the_silence_limit(embedded_worker):
    layer = get_channel_layer()
    reply = await layer.new_channel()
    heartbeat_ms = 100
    run_ms = heartbeat_ms * MISSED_HEARTBEATS * 4  # four silence limits
    await layer.send("bcpages.tasks", TaskRun("alive", 1, catalogue.SLEEP_MS, {"ms": str(run_ms)}, 60000, reply, heartbeat_ms=heartbeat_ms).message())
    async with asyncio.timeout(10):
        started = await layer.receive(reply)
    outcome = asyncio.ensure_future(layer.receive(reply))

    async def beat():
        # The parent's part: a heartbeat every interval, as the consumer sends it.
        while True:
            await layer.send(started["worker_channel"], TaskHeartbeat("alive", (1,)).message())
            await asyncio.sleep(heartbeat_ms / 1000)

    beating = asyncio.ensure_future(beat())
    try:
        async with asyncio.timeout(10):
            done = await outcome
    finally:
        beating.cancel()
    assert (done["task_id"], done["state"], done["results"]) == (1, "completed", {"slept": str(run_ms)})


# The consumer ------------------------------------------------------------------
NO_WORKER = override_settings(BCPAGES={"EMBEDDED_WORKER": False, "CODEUNIT_MODULES": ["tasks.catalogue"]})


async def connect():
    from bcpages.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/pages/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def send(communicator, **frame):
    await communicator.send_to(text_data=json.dumps(frame))


async def frames_until(communicator, predicate, timeout=5):
    frames = []
    async with asyncio.timeout(timeout):
        while True:
            output = await communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                frames.append(output)
                return frames
            frame = json.loads(output["text"])
            frames.append(frame)
            if predicate(frame):
                return frames


async def open_with_running_task(communicator, layer):
    """Open the probe page, enqueue a task, and play the worker that starts it."""
    await send(communicator, type="page.open", page="test-probe", record="10000")
    await frames_until(communicator, lambda f: f["type"] == "page.state")
    await send(communicator, type="page.action", action="enqueue", args={"codeunit": catalogue.SLEEP_MS, "parameters": {"ms": "10000"}})
    async with asyncio.timeout(5):
        run = await layer.receive("bcpages.tasks")
    worker_channel = await layer.new_channel()
    await layer.send(run["reply_channel"], TaskStarted(run["session_id"], run["task_id"], worker_channel).message())
    return run, worker_channel


@NO_WORKER
async def test_consumer_sends_heartbeats_to_the_worker_running_its_task(customers, monkeypatch):
    monkeypatch.setattr(consumer_module, "heartbeat_ms", lambda layer: 50)
    layer = get_channel_layer()
    communicator = await connect()
    run, worker_channel = await open_with_running_task(communicator, layer)
    assert run["heartbeat_ms"] == 50
    async with asyncio.timeout(5):
        beats = [await layer.receive(worker_channel) for _ in range(3)]
    assert {(b["type"], b["session_id"], tuple(b["task_ids"])) for b in beats} == {("task.heartbeat", run["session_id"], (run["task_id"],))}
    await communicator.disconnect()


def test_no_heartbeats_on_the_in_memory_layer():
    # The embedded worker lives and dies with the process that holds the pages.
    assert consumer_module.heartbeat_ms(get_channel_layer()) == 0


@NO_WORKER
async def test_a_send_failing_on_an_unreachable_layer_fails_the_tasks_and_closes_abnormally(customers):
    """S25: the page never waits for outcomes that cannot arrive."""
    layer = get_channel_layer()
    communicator = await connect()
    await open_with_running_task(communicator, layer)

    async def unreachable(channel, message):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    layer.send = unreachable
    await send(communicator, type="page.action", action="enqueue", args={"codeunit": catalogue.NOOP})
    frames = await frames_until(communicator, lambda f: False)

    assert frames[-1] == {"type": "websocket.close", "code": consumer_module.LAYER_LOST_CLOSE_CODE}
    failed = [f for f in frames if f.get("type") == "task.state" and f["state"] == "failed"]
    assert [(f["task_id"], f["code"]) for f in failed] == [(1, "ChildSessionLost"), (2, "ChildSessionLost")]
    assert [f["text"] for f in frames if f.get("type") == "notification"] == [consumer_module.LAYER_LOST_TEXT] * 2


@NO_WORKER
async def test_a_receive_failing_on_an_unreachable_layer_fails_the_tasks_and_closes_abnormally(customers):
    """S25: the consumer's own receive fails (Redis restarted): the same as a failed send."""
    layer = get_channel_layer()
    receive, outage = layer.receive, asyncio.Event()

    async def receive_until_the_outage(channel):
        if not channel.startswith("specific."):
            return await receive(channel)  # the test's own worker side
        waiting = asyncio.ensure_future(receive(channel))
        down = asyncio.ensure_future(outage.wait())
        await asyncio.wait([waiting, down], return_when=asyncio.FIRST_COMPLETED)
        if down.done():
            waiting.cancel()
            raise ConnectionError("Connection closed by server.")
        down.cancel()
        return waiting.result()

    layer.receive = receive_until_the_outage
    communicator = await connect()
    await open_with_running_task(communicator, layer)
    await frames_until(communicator, lambda f: f["type"] == "task.state" and f["state"] == "running")

    outage.set()
    frames = await frames_until(communicator, lambda f: False)

    assert frames[-1] == {"type": "websocket.close", "code": consumer_module.LAYER_LOST_CLOSE_CODE}
    failed = [f for f in frames if f.get("type") == "task.state" and f["state"] == "failed"]
    assert [(f["task_id"], f["code"]) for f in failed] == [(1, "ChildSessionLost")]
    assert any(f.get("type") == "notification" and f["level"] == "error" for f in frames)
