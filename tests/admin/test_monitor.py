"""The live monitor's websocket (``/ws/monitor/``): staff only, same origin only; a
snapshot of every open page on connect, then their task changes, batched."""

import asyncio
import json

import pytest
from channels.layers import get_channel_layer

from tasks import catalogue, monitor
from tests.websocket import connect, cookie_header, open_page, receive_until

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff_cookie(client, staff):
    client.force_login(staff)
    return cookie_header(client.cookies["sessionid"].value)



async def connect_monitor(*headers):
    communicator, connected, code = await connect("/ws/monitor/", *headers)
    assert connected, code
    return communicator


def about(session_page, record=None):
    def match(message):
        session = message["session"]
        return session["page"] == session_page and (record is None or session["record"] == record)

    return match


async def test_anonymous_users_are_refused():  # S36
    communicator, connected, code = await connect("/ws/monitor/")
    assert (connected, code) == (False, 4403)


async def test_logged_in_users_who_are_not_staff_are_refused(client, django_user_model):  # S36
    user = await asyncio.to_thread(lambda: django_user_model.objects.create_user("sales", password="x"))
    await asyncio.to_thread(client.force_login, user)
    communicator, connected, code = await connect("/ws/monitor/", cookie_header(client.cookies["sessionid"].value))
    assert (connected, code) == (False, 4403)


async def test_cross_origin_is_refused_even_for_staff(staff_cookie):
    communicator, connected, _ = await connect("/ws/monitor/", staff_cookie, origin=(b"origin", b"http://evil.example"))
    assert not connected


async def test_a_new_monitor_gets_a_snapshot_of_every_open_page(customers, embedded_worker, staff_cookie, plan):  # S36
    plan({"codeunit_id": catalogue.SLEEP_MS, "parameters": {"ms": "3000"}})
    page = await open_page("test-probe", "10000")
    await receive_until(page, lambda f: f["type"] == "task.state" and f["state"] == "running")
    watcher = await connect_monitor(staff_cookie)
    [snapshot] = (await receive_until(watcher, about("test-probe")))[-1:]
    assert snapshot["type"] == "monitor.page" and snapshot["snapshot"] is True and snapshot["closed"] is False
    assert snapshot["session"]["record"] == "10000" and snapshot["session"]["server"] == monitor.SERVER
    [task] = snapshot["tasks"]
    assert (task["codeunit"], task["name"], task["state"], task["record"]) == (catalogue.SLEEP_MS, "sleep_ms", "running", "10000")
    assert task["queued"] <= task["started"] and task["ended"] is None
    await page.disconnect()
    closing = await receive_until(watcher, lambda m: about("test-probe")(m) and m["closed"])
    assert closing[-1]["tasks"][0]["state"] == "cancelled"  # S15
    await watcher.disconnect()


async def test_a_watching_monitor_receives_task_changes_and_navigation(customers, embedded_worker, staff_cookie, plan):  # S36
    watcher = await connect_monitor(staff_cookie)
    plan({"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "x"}})
    page = await open_page("test-probe", "10000")
    messages = await receive_until(watcher, lambda m: any(t["state"] == "completed" for t in m["tasks"]))
    assert all(m["session"]["page"] == "test-probe" for m in messages)
    completed = [t for m in messages for t in m["tasks"] if t["state"] == "completed"][0]
    assert completed["ended"] >= completed["on_worker"] >= completed["started"] >= completed["queued"]
    await page.send_to(text_data=json.dumps({"type": "page.navigate", "record": "20000"}))
    moved = await receive_until(watcher, lambda m: m["session"]["record"] == "20000")
    assert moved[-1]["session"]["record"] == "20000"
    await page.disconnect()
    await watcher.disconnect()


async def test_changes_are_batched(customers, embedded_worker, staff_cookie, plan):
    watcher = await connect_monitor(staff_cookie)
    plan(*[{"codeunit_id": catalogue.NOOP}] * 12)
    page = await open_page("test-probe", "10000")
    # Tasks run five at a time and may end in any order: wait for all twelve.
    completed = set()
    frames = await receive_until(
        page, lambda f: f["type"] == "task.state" and f["state"] == "completed" and (completed.add(f["task_id"]) or len(completed) == 12)
    )
    state_changes = sum(1 for f in frames if f["type"] == "task.state")
    seen = set()
    messages = await receive_until(
        watcher, lambda m: (seen.update(t["id"] for t in m["tasks"] if t["state"] == "completed") or len(seen) == 12), timeout=5
    )
    assert state_changes == 36  # queued, running, completed for each of 12
    assert len(messages) < 12  # a message per BATCH_S, not per change
    await page.disconnect()
    await watcher.disconnect()


async def test_a_page_publishes_nothing_while_no_monitor_watches(customers, embedded_worker, plan, monkeypatch):
    layer = get_channel_layer()
    sent = []
    original = layer.group_send

    async def spy(group, message):
        sent.append(message["type"])
        await original(group, message)

    monkeypatch.setattr(layer, "group_send", spy)
    plan({"codeunit_id": catalogue.NOOP})
    page = await open_page("test-probe", "10000")
    await receive_until(page, lambda f: f["type"] == "task.state" and f["state"] == "completed")
    await page.disconnect()
    assert monitor.MONITOR_PAGES not in sent
    assert sent.count(monitor.MONITOR_HELLO) <= 1  # one per process, not per page


async def test_the_monitor_page_is_in_the_admin_for_staff(client, staff):
    response = await asyncio.to_thread(client.get, "/admin/tasks/monitor/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    await asyncio.to_thread(client.force_login, staff)
    response = await asyncio.to_thread(client.get, "/admin/tasks/monitor/")
    assert response.status_code == 200
    assert 'data-socket-path="/ws/monitor/"' in response.text and "tasks/monitor.js" in response.text
    index = await asyncio.to_thread(client.get, "/admin/")
    assert 'href="/admin/tasks/monitor/"' in index.text
