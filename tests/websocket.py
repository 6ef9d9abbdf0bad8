"""Websocket helpers of the tests: page and monitor connections through the real
ASGI application (origin check, sessions), the in-memory layer and the embedded
worker, as a browser tab would make them."""

import asyncio
import json

from channels.testing import WebsocketCommunicator

from bcpages.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1")


def cookie_header(session_key):
    return (b"cookie", f"sessionid={session_key}".encode())


async def connect(path, *headers, origin=ORIGIN):
    communicator = WebsocketCommunicator(application, path, headers=[origin, *headers])
    connected, code = await communicator.connect()
    return communicator, connected, code


async def connect_page(*headers, origin=ORIGIN):
    """A connected ``/ws/pages/`` websocket (a browser tab before ``page.open``)."""
    communicator, connected, _ = await connect("/ws/pages/", *headers, origin=origin)
    assert connected
    return communicator


async def open_page(page, record, *headers):
    communicator, connected, _ = await connect("/ws/pages/", *headers)
    assert connected
    await send(communicator, type="page.open", page=page, record=record)
    return communicator


async def send(communicator, **frame):
    await communicator.send_to(text_data=json.dumps(frame))


async def receive_until(communicator, predicate, timeout=10):
    """Messages received until (and including) the first one matching ``predicate``."""
    received = []
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await communicator.receive_from(timeout))
            received.append(message)
            if predicate(message):
                return received
