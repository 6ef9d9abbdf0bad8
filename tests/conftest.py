"""Fixtures shared by the whole suite."""

import pytest
from channels.layers import channel_layers


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets its own in-memory layer: its queues belong to the test's event loop."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
async def embedded_worker():
    """The embedded worker of this test's event loop, stopped at the end of the test."""
    from tasks.embedded import ensure_embedded_worker, stop_embedded_worker

    worker = ensure_embedded_worker()
    yield worker
    await stop_embedded_worker()


@pytest.fixture
def plan(monkeypatch):
    """``plan(*enqueues, handle_errors=False)``: what the probe page
    (tests/pages.py) enqueues on every record, and whether its error trigger marks
    errors handled. Starts empty."""
    from tests.pages import ProbePage

    def set_plan(*kwargs_list, handle_errors=False):
        monkeypatch.setattr(ProbePage, "plan", list(kwargs_list))
        monkeypatch.setattr(ProbePage, "handle_errors", handle_errors)

    set_plan()
    return set_plan


@pytest.fixture
def customers(db):
    """Three customers with a small ledger each, enough for pages and navigation."""
    from tests.factories import make_customers

    return make_customers()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` run on SQLite in the main pass and again on PostgreSQL
    in ``make test-postgres``; nothing to skip here. Tests marked ``scaleout`` need
    PostgreSQL and Redis: skipped with the reason where they are absent, except in CI."""
    from tests.services import in_ci, reachable

    missing = [name for name in ("postgres", "redis") if not reachable(name)]
    if not missing or in_ci():
        return
    skip = pytest.mark.skip(reason=f"needs {' and '.join(missing)} on 127.0.0.1 (scaled-out tests)")
    for item in items:
        if "scaleout" in item.keywords:
            item.add_marker(skip)
from tests import pages  # noqa: F401,E402  (registers the test pages)
