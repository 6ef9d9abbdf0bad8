"""``python -m bench.echo_worker``: the worker end of scenario 6's baseline, a process.

Channels' own ``runworker`` on the ``bench.echo`` channel of ``bench.asgi``: each
``echo.request`` goes straight back to the consumer that sent it, over the channel
layer the environment configures (channels_redis when REDIS_URL is set). Not the
product's ``runworker`` (``tasks``' command of the same name): that one listens
for ``task.*`` messages and takes a child session per message, which is what the
baseline leaves out.

Prints ``echo_worker_ready channel=bench.echo`` once the application is loaded;
a message sent before its first receive waits in Redis, so nothing is lost.
"""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from channels.management.commands import runworker
    from channels.routing import get_default_application
    from django.core.management import call_command

    from bench.asgi import ECHO_CHANNEL

    get_default_application()  # loads bench.asgi now: "ready" then means ready
    print(f"echo_worker_ready channel={ECHO_CHANNEL}", flush=True)
    call_command(runworker.Command(), ECHO_CHANNEL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
