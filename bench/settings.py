"""Settings of the benchmark server: the test settings plus the bench's own pages,
codeunits and baseline consumers (bench/asgi.py)."""

from tests.settings import *  # noqa: F401,F403
from tests.settings import BCPAGES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ASGI_APPLICATION = "bench.asgi.application"
ROOT_URLCONF = "bench.urls"
BCPAGES = {**BCPAGES, "CHILD_SESSIONS": 2}
LOGGING = {"version": 1, "disable_existing_loggers": False}
DEBUG = False
