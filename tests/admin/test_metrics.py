"""``/metrics``: Prometheus' text format, for staff or from this machine only."""

import re

import pytest

from tasks import catalogue
from tasks.testing import TestPage
from tests.pages import ProbePage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset of labels): value} and {name: type}, checking every line's syntax."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP ") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name, labels, value = match.groups()
        samples[(name, frozenset(LABEL.findall(labels or "")))] = float(value)
    return samples, types


def get_metrics(client, **extra):
    response = client.get("/metrics", **extra)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.content.decode())


def completed_noops(samples):
    return samples.get(("bcpages_tasks_total", frozenset({("codeunit", str(catalogue.NOOP)), ("outcome", "completed")})), 0)


def test_metrics_have_every_family_with_its_type(client):  # S36
    samples, types = get_metrics(client)  # the test client's REMOTE_ADDR is 127.0.0.1
    assert types == {
        "bcpages_parent_sessions_open": "gauge",
        "bcpages_child_sessions_active": "gauge",
        "bcpages_tasks_dispatched": "gauge",
        "bcpages_tasks_queued": "gauge",
        "bcpages_tasks_total": "counter",
        "bcpages_task_duration_seconds": "histogram",
        "bcpages_task_log_buffered": "gauge",
    }
    buckets = [(dict(labels)["le"], value) for (name, labels), value in samples.items() if name == "bcpages_task_duration_seconds_bucket"]
    assert buckets[-1][0] == "+Inf"
    assert [value for _, value in buckets] == sorted(value for _, value in buckets)  # cumulative
    assert samples[("bcpages_task_duration_seconds_count", frozenset())] == buckets[-1][1]


def test_counters_move_when_tasks_end(client, customers, monkeypatch):  # S36
    monkeypatch.setattr(ProbePage, "plan", [{"codeunit_id": catalogue.NOOP}, {"codeunit_id": catalogue.RAISES_VALUE_ERROR}])
    before, _ = get_metrics(client)
    count_before = before[("bcpages_task_duration_seconds_count", frozenset())]
    page = TestPage.open("test-probe", "10000")
    page.run_tasks()
    after, _ = get_metrics(client)
    assert completed_noops(after) == completed_noops(before) + 1
    failed = ("bcpages_tasks_total", frozenset({("codeunit", str(catalogue.RAISES_VALUE_ERROR)), ("outcome", "failed")}))
    assert after[failed] == before.get(failed, 0) + 1
    assert after[("bcpages_task_duration_seconds_count", frozenset())] == count_before + 2


async def test_gauges_count_open_pages_and_their_running_and_queued_tasks(client, customers, embedded_worker, monkeypatch):  # S12, S36
    import asyncio

    from django.conf import settings

    from tests.admin.conftest import async_wait_for
    from tests.websocket import open_page, receive_until

    child_sessions = settings.BCPAGES["CHILD_SESSIONS"]  # 2 in the tests: fewer than 5
    monkeypatch.setattr(ProbePage, "plan", [{"codeunit_id": catalogue.SLEEP_MS, "parameters": {"ms": "5000"}}] * 7)
    page = await open_page("test-probe", "10000")
    await receive_until(page, lambda f: f["type"] == "page.state")

    async def busy():
        samples, _ = await asyncio.to_thread(get_metrics, client)
        return samples if samples[("bcpages_child_sessions_active", frozenset())] == child_sessions else None

    samples = await async_wait_for(busy)  # the worker reports task.started when it has
    assert samples[("bcpages_parent_sessions_open", frozenset())] == 1
    assert samples[("bcpages_tasks_dispatched", frozenset())] == 5 - child_sessions
    assert samples[("bcpages_tasks_queued", frozenset())] == 2
    await page.disconnect()
    samples, _ = await asyncio.to_thread(get_metrics, client)
    assert samples[("bcpages_parent_sessions_open", frozenset())] == 0
    assert samples[("bcpages_child_sessions_active", frozenset())] == 0
    assert samples[("bcpages_tasks_dispatched", frozenset())] == 0


def test_metrics_are_refused_to_anonymous_requests_from_elsewhere(client):
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403
    assert "'10.1.2.3' is neither" in response.content.decode()


def test_metrics_are_served_to_staff_from_anywhere(client, staff):
    client.force_login(staff)
    get_metrics(client, REMOTE_ADDR="10.1.2.3")


def test_metrics_are_served_from_this_machine_over_ipv6(client):
    get_metrics(client, REMOTE_ADDR="::1")
