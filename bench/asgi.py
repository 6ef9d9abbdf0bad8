"""The benchmark server: the product's application plus two baselines on the same
Daphne, so that every figure has its baseline measured in the same run.

- ``/ws/bench/echo/``: a minimal Channels consumer echoing each frame (what Daphne
  and Channels cost by themselves);
- ``/ws/bench/layer-echo/``: the same consumer, each frame going through the
  channel layer to a Channels worker and back (the naive layer path, no child
  session): an in-process worker with the in-memory layer; over Redis (scenario
  6), Channels' own ``runworker`` in a process of its own (``bench.echo_worker``),
  which serves the ``bench.echo`` channel of this application.
"""

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.consumer import AsyncConsumer  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.worker import Worker  # noqa: E402
from django.urls import path  # noqa: E402

from bcpages.asgi import application as product  # noqa: E402
from bcpages.asgi import websocket_urlpatterns  # noqa: E402
from tasks import conf  # noqa: E402

ECHO_CHANNEL = "bench.echo"
_echo_workers = {}


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data)


class EchoWorkerConsumer(AsyncConsumer):
    async def echo_request(self, message):
        await self.channel_layer.send(message["reply"], {"type": "echo.reply", "text": message["text"]})


class LayerEchoConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        loop = asyncio.get_running_loop()
        # The product's rule for its own worker: in this process only with the
        # in-memory layer. Over Redis a second consumer here would race the echo
        # worker process for the messages, and the baseline would no longer cross
        # process boundaries.
        if conf.embedded_worker_enabled() and loop not in _echo_workers:
            worker = Worker(ChannelNameRouter({ECHO_CHANNEL: EchoWorkerConsumer.as_asgi()}), [ECHO_CHANNEL], get_channel_layer())
            _echo_workers[loop] = loop.create_task(worker.arun())
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.send(ECHO_CHANNEL, {"type": "echo.request", "reply": self.channel_name, "text": text_data})

    async def echo_reply(self, message):
        await self.send(text_data=message["text"])


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(
            [
                path("ws/bench/echo/", EchoConsumer.as_asgi()),
                path("ws/bench/layer-echo/", LayerEchoConsumer.as_asgi()),
                *websocket_urlpatterns,
            ]
        ),
        # The product's task channel, and the echo baseline's for a worker process.
        "channel": ChannelNameRouter(
            {**product.application_mapping["channel"].application_mapping, ECHO_CHANNEL: EchoWorkerConsumer.as_asgi()}
        ),
    }
)
