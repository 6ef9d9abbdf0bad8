"""Scenario 2: 100 pages running no-op tasks back to back: tasks per second and
server CPU per task, beside echo messages per second over 100 connections."""

import asyncio
import time
from typing import NamedTuple

import websockets

from bench.common import Figure, origin, process_cpu_seconds
from bench.roundtrip import echo_round_trip, open_noop_page, task_round_trip


# How long the steps still running at a deadline get to finish.
DRAIN_TIMEOUT_S = 30.0


class Steps(NamedTuple):
    in_time: int  # ended before the deadline
    total: int  # ended at all (the late ones too)


async def run_for(clients, step, seconds, limit=1_000_000):
    """Each client repeats ``step`` until ``seconds`` passed or ``limit`` steps began
    in all; returns ``Steps``.

    Steps still running at the deadline finish (the connections are quiet
    afterwards), but a rate counts only ``in_time``: with few slow steps (scenario
    6's busy loops) the late ones would add up to one step per client. TimeoutError
    when they have not finished ``DRAIN_TIMEOUT_S`` after the deadline.
    """
    deadline = time.perf_counter() + seconds
    began, in_time = 0, 0

    async def loop(client):
        nonlocal began, in_time
        while time.perf_counter() < deadline and began < limit:
            began += 1
            await step(client)
            if time.perf_counter() < deadline:
                in_time += 1

    await asyncio.wait_for(asyncio.gather(*(loop(c) for c in clients)), seconds + DRAIN_TIMEOUT_S)
    return Steps(in_time, began)


async def measure(port, process, connections, seconds):
    pages = [await open_noop_page(port) for _ in range(connections)]
    await run_for(pages, task_round_trip, 1.0)  # warm up
    cpu = process_cpu_seconds(process)
    tasks = await run_for(pages, task_round_trip, seconds)
    cpu = process_cpu_seconds(process) - cpu  # the late tasks' CPU too: per task of tasks.total
    for page in pages:
        await page.close()
    echoes = [await websockets.connect(f"ws://127.0.0.1:{port}/ws/bench/echo/", origin=origin(port)) for _ in range(connections)]
    messages = await run_for(echoes, lambda ws: echo_round_trip(ws, "x" * 64), seconds)
    for ws in echoes:
        await ws.close()
    return tasks.in_time / seconds, cpu / max(tasks.total, 1) * 1000, messages.in_time / seconds


def figures(port, process, repeats, connections=100, seconds=5.0):
    rate = Figure("2 throughput", f"no-op tasks/s, {connections} pages", "1/s", better="higher")
    cpu = Figure("2 throughput", "server CPU per task", "ms")
    echo = Figure("2 throughput", f"baseline: echo msgs/s, {connections} connections", "1/s", better="higher")
    for _ in range(repeats):
        tasks_per_s, cpu_ms, echo_per_s = asyncio.run(measure(port, process, connections, seconds))
        rate.samples.append(tasks_per_s)
        cpu.samples.append(cpu_ms)
        echo.samples.append(echo_per_s)
    return [rate, cpu, echo]
