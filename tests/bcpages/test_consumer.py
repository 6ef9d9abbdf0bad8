"""The parent-session consumer through the real in-memory layer and the real worker."""

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator

from bcpages.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True)]


async def connect():
    communicator = WebsocketCommunicator(application, "/ws/pages/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive_until(communicator, predicate, timeout=10):
    """Frames received until (and including) the first one matching ``predicate``."""
    frames = []
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await communicator.receive_from(timeout))
            frames.append(frame)
            if predicate(frame):
                return frames


async def test_card_opens_and_fills_in_from_background_tasks(customers, embedded_worker):
    communicator = await connect()
    await communicator.send_to(text_data=json.dumps({"type": "page.open", "page": "customer-card", "record": "10000"}))
    frames = await receive_until(communicator, lambda f: f["type"] == "notification")
    state = next(f for f in frames if f["type"] == "page.state")
    assert state["record"] == "10000"
    assert state["fields"]["customer_name"] == "Adatum Corporation"
    assert state["field_states"]["start_time"] == "loading"
    assert frames[-1]["text"] == "Start and finish times have been updated."
    await communicator.disconnect()
