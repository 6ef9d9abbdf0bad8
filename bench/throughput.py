"""Scenario 2: 100 pages running no-op tasks back to back: tasks per second and
server CPU per task, beside echo messages per second over 100 connections."""

import asyncio
import time

import websockets

from bench.common import Figure, origin, process_cpu_seconds
from bench.roundtrip import echo_round_trip, open_noop_page, task_round_trip


async def _run_for(clients, step, seconds):
    """Each client repeats ``step`` until the deadline; returns the total count."""
    deadline = time.perf_counter() + seconds
    counts = [0] * len(clients)

    async def loop(index, client):
        while time.perf_counter() < deadline:
            await step(client)
            counts[index] += 1

    await asyncio.gather(*(loop(i, c) for i, c in enumerate(clients)))
    return sum(counts)


async def measure(port, process, connections, seconds):
    pages = [await open_noop_page(port) for _ in range(connections)]
    await _run_for(pages, task_round_trip, 1.0)  # warm up
    cpu = process_cpu_seconds(process)
    tasks = await _run_for(pages, task_round_trip, seconds)
    cpu = process_cpu_seconds(process) - cpu
    for page in pages:
        await page.close()
    echoes = [await websockets.connect(f"ws://127.0.0.1:{port}/ws/bench/echo/", origin=origin(port)) for _ in range(connections)]
    messages = await _run_for(echoes, lambda ws: echo_round_trip(ws, "x" * 64), seconds)
    for ws in echoes:
        await ws.close()
    return tasks / seconds, cpu / max(tasks, 1) * 1000, messages / seconds


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
