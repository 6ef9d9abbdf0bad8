"""Settings of the benchmark server: the test settings plus the bench's own pages,
codeunits and baseline consumers (bench/asgi.py)."""

import os

from tests.settings import *  # noqa: F401,F403
from tests.settings import BCPAGES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ASGI_APPLICATION = "bench.asgi.application"
ROOT_URLCONF = "bench.urls"
# Scenario 6 starts workers with fewer child sessions (BCPAGES_CHILD_SESSIONS, as
# in production settings; bench/scaleout.py says why).
BCPAGES = {**BCPAGES, "CHILD_SESSIONS": int(os.environ.get("BCPAGES_CHILD_SESSIONS", "2"))}
if "BCPAGES_LOG_LEVEL" not in os.environ:
    # The bench's own server logs nothing: its output is drained, never read. Scenario
    # 6's processes set the level, because the deployment waits for their log lines
    # (a worker's worker_ready).
    LOGGING = {"version": 1, "disable_existing_loggers": False}
DEBUG = False
