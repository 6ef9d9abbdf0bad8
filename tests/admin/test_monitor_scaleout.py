"""The live monitor scaled out: two Daphne processes and a worker over Redis and
PostgreSQL (tests/scaleout/cluster.py). A monitor on one Daphne sees the pages of
both: a snapshot of those already open, then the task changes of new ones."""

import asyncio
import json
import os
import subprocess

import pytest

from tasks import catalogue
from tests.scaleout.cluster import PYTHON, ROOT, Deployment, Page

pytestmark = [pytest.mark.scaleout]

STAFF_SESSION = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.create_user("monitor-staff", password="x", is_staff=True)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


@pytest.fixture(scope="module")
def deployment():
    with Deployment(name=f"bcpages_admin_scaleout_{os.getpid()}") as deployment:
        deployment.daphnes, deployment.workers = deployment.start(daphnes=2, workers=1)
        result = subprocess.run([PYTHON, "manage.py", "shell", "-c", STAFF_SESSION], cwd=ROOT, env=deployment.env(),
                                capture_output=True, text=True, timeout=120, check=True)
        deployment.staff_session = result.stdout.strip().splitlines()[-1]
        yield deployment


async def connect_monitor(daphne, session_key):
    import websockets

    return await websockets.connect(
        f"ws://127.0.0.1:{daphne.port}/ws/monitor/", origin=f"http://127.0.0.1:{daphne.port}",
        additional_headers={"Cookie": f"sessionid={session_key}"}, max_queue=None, open_timeout=15,
    )


async def views_until(monitor, predicate, timeout=15):
    """Page views received until (and including) the first matching ``predicate``."""
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            view = json.loads(await monitor.recv())
            seen.append(view)
            if predicate(view):
                return seen


async def test_a_monitor_on_one_daphne_sees_the_pages_of_every_daphne(deployment):  # S36
    first, second = deployment.daphnes
    before = await Page.open(second, record="20000")  # open before the monitor: in its snapshot
    monitor = await connect_monitor(first, deployment.staff_session)
    try:
        seen = await views_until(monitor, lambda v: v["snapshot"] and v["session"]["record"] == "20000")
        servers = {v["session"]["server"] for v in seen}
        after = await Page.open(first, record="30000")
        task_id = await after.enqueue(catalogue.ECHO_PARAMETERS, {"Echo": "x"})
        await after.task_state(task_id)
        seen += await views_until(
            monitor, lambda v: v["session"]["record"] == "30000" and any(t["state"] == "completed" for t in v["tasks"])
        )
        task_id = await before.enqueue(catalogue.NOOP)
        await before.task_state(task_id)
        seen += await views_until(
            monitor, lambda v: v["session"]["record"] == "20000" and any(t["id"] == task_id and t["state"] == "completed" for t in v["tasks"])
        )
        servers = {v["session"]["server"] for v in seen}
        assert len(servers) == 2, servers  # both Daphne processes published
        await after.close()
        await views_until(monitor, lambda v: v["session"]["record"] == "30000" and v["closed"])
    finally:
        await monitor.close()
        await before.close()


async def test_the_monitor_refuses_anonymous_users_on_a_scaled_out_daphne(deployment):
    import websockets

    daphne = deployment.daphnes[0]
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(f"ws://127.0.0.1:{daphne.port}/ws/monitor/", origin=f"http://127.0.0.1:{daphne.port}", open_timeout=15)
