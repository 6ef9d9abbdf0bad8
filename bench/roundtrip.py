"""Scenario 1: round trip of a no-op task, from the client's frame to its
``field.update``, beside a plain echo and an echo through the channel layer."""

import asyncio
import json
import time

import websockets

from bench.common import Figure, origin, percentile

RUN = json.dumps({"type": "page.action", "action": "run", "args": {}})


async def open_page(port, page):
    """A websocket with bench page ``page`` open (bench/pages.py: its ``run`` action
    enqueues one task, whose completion sets ``count``)."""
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/pages/", origin=origin(port), max_queue=None)
    await ws.send(json.dumps({"type": "page.open", "page": page, "record": ""}))
    while json.loads(await ws.recv())["type"] != "page.state":
        pass
    return ws


async def open_noop_page(port):
    return await open_page(port, "bench-noop")


async def task_round_trip(ws, run=RUN):
    """Seconds from sending ``run`` (a page.action frame) to the field.update that
    shows its result."""
    start = time.perf_counter()
    await ws.send(run)
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "field.update" and frame["field_states"].get("count") == "ok":
            return time.perf_counter() - start


async def echo_round_trip(ws, payload):
    start = time.perf_counter()
    await ws.send(payload)
    await ws.recv()
    return time.perf_counter() - start


async def measure(port, count, warmup=50):
    """Round trips in ms: {"task": [...], "echo": [...], "layer": [...]}."""
    samples = {}
    task_ws = await open_noop_page(port)
    for _ in range(warmup):
        await task_round_trip(task_ws)
    samples["task"] = [await task_round_trip(task_ws) * 1000 for _ in range(count)]
    await task_ws.close()
    payload = "x" * 64
    for name, path in (("echo", "/ws/bench/echo/"), ("layer", "/ws/bench/layer-echo/")):
        async with websockets.connect(f"ws://127.0.0.1:{port}{path}", origin=origin(port)) as ws:
            for _ in range(warmup):
                await echo_round_trip(ws, payload)
            samples[name] = [await echo_round_trip(ws, payload) * 1000 for _ in range(count)]
    return samples


def figures(port, count, repeats):
    rows = {key: Figure("1 round trip", label, "ms") for key, label in (
        ("task_p50", "no-op task p50"), ("task_p99", "no-op task p99"),
        ("echo_p50", "baseline: Daphne echo p50"), ("layer_p50", "baseline: layer + in-process worker p50"))}
    for _ in range(repeats):
        samples = asyncio.run(measure(port, count))
        rows["task_p50"].samples.append(percentile(samples["task"], 50))
        rows["task_p99"].samples.append(percentile(samples["task"], 99))
        rows["echo_p50"].samples.append(percentile(samples["echo"], 50))
        rows["layer_p50"].samples.append(percentile(samples["layer"], 50))
    return list(rows.values())
