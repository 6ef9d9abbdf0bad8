"""Fixtures of the administration tests: users, and a clean settings snapshot and
task log buffer for every test. (The administrator's browser test lives in
tests/browser/test_administration.py, with the browser fixtures: Playwright's
package-scoped event loop must not stay open under these async tests.)"""

import asyncio
import time

import pytest


@pytest.fixture(autouse=True)
def fresh_administration_state():
    """No settings snapshot, task log row or monitor lease leaks from one test to the next
    (a rolled-back or flushed database sends no post_save)."""
    from tasks import monitor, settings_cache, tasklog

    settings_cache.invalidate()
    tasklog.clear()
    monitor.reset()
    yield
    settings_cache.invalidate()
    tasklog.clear()
    monitor.reset()


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "admin-password")


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user("clerk", "clerk@example.com", "clerk-password", is_staff=True)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def wait_for(predicate, timeout=10.0, interval=0.02):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s.
    (The event is in another thread: a deadline, not a sleep as synchronisation.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {predicate}")
        time.sleep(interval)


async def async_wait_for(predicate, timeout=10.0, interval=0.02):
    """``wait_for`` for async tests; ``predicate`` is a coroutine function."""
    async with asyncio.timeout(timeout):
        while True:
            value = await predicate()
            if value:
                return value
            await asyncio.sleep(interval)
