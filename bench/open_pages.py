"""Scenario 5: idle open pages held by one Daphne process: memory per open page,
and the no-op round trip while they are open."""

import asyncio
import json
import resource

import websockets

from bench.common import Figure, origin, percentile, rss_bytes
from bench.roundtrip import open_noop_page, task_round_trip

CARD = json.dumps({"type": "page.open", "page": "bench-noop", "record": ""})


async def _open_idle(port, count, batch=200):
    pages = []
    for start in range(0, count, batch):
        opened = await asyncio.gather(*(_open_one(port) for _ in range(min(batch, count - start))))
        pages.extend(opened)
    return pages


async def _open_one(port):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/pages/", origin=origin(port), open_timeout=60, ping_interval=None)
    await ws.send(CARD)
    while json.loads(await ws.recv())["type"] != "page.state":
        pass
    return ws


async def measure(port, process, open_count, samples):
    before = rss_bytes(process)
    idle = await _open_idle(port, open_count)
    after = rss_bytes(process)
    probe = await open_noop_page(port)
    for _ in range(20):
        await task_round_trip(probe)
    trips = [await task_round_trip(probe) * 1000 for _ in range(samples)]
    await probe.close()
    await asyncio.gather(*(ws.close() for ws in idle))
    return percentile(trips, 50), (after - before) / max(open_count, 1) / 1024


def figures(port_factory, counts, repeats, samples=200):
    """``port_factory()`` gives a fresh server (port, process) per count, so that
    memory is measured from a clean start."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * max(counts) + 1000)), hard))
    rows = []
    for count in counts:
        trip = Figure("5 open pages", f"no-op round trip p50 with {count} open", "ms")
        memory = Figure("5 open pages", f"memory per open page at {count}", "KiB")
        for _ in range(repeats):
            with port_factory() as (port, process):
                p50, kib = asyncio.run(measure(port, process, count, samples))
            trip.samples.append(p50)
            memory.samples.append(kib)
        rows += [trip, memory]
    return rows
