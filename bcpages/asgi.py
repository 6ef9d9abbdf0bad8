"""ASGI entry point: websockets to the page consumer, the task channel to the worker."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bcpages.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from bcpages.consumer import PageConsumer  # noqa: E402
from tasks import conf  # noqa: E402
from tasks.monitor import MonitorConsumer  # noqa: E402
from tasks.worker import TaskConsumer  # noqa: E402


def worker_application():
    """What a worker runs: the task channel to TaskConsumer."""
    return ChannelNameRouter({conf.get("TASK_CHANNEL"): TaskConsumer.as_asgi()})


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Any other websocket path: refused at the handshake (HTTP 403), instead of
    the server error URLRouter raises for a path it has no route for."""

    async def connect(self):
        await self.close(code=4404)


websocket_urlpatterns = [
    path("ws/pages/", PageConsumer.as_asgi()),
    # The admin's live monitor: staff only (the consumer checks), same origin only.
    path("ws/monitor/", MonitorConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        "channel": worker_application(),
    }
)
