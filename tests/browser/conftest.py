"""Fixtures of the browser tests: one Daphne server and one Chromium for all of
them, a fresh browser context (cookies, history) for every test.

Package scope, not session: Playwright's sync API leaves its event loop marked as
running in this thread while it is started, and Django then refuses database
calls ("SynchronousOnlyOperation") in the tests that run after these ones.
"""

from pathlib import Path

import pytest

from tests.browser.live_server import chromium, live_server as start_live_server

VIEWPORT = {"width": 1280, "height": 800}
FIELD_HISTORY_JS = Path(__file__).with_name("field_history.js")


@pytest.fixture(scope="package")
def browser():
    with chromium() as browser:
        yield browser


# Not named live_server: pytest-django's fixture of that name would set up its own
# test database (and its in-process server) for every test that asks for it.
@pytest.fixture(scope="package")
def server(tmp_path_factory):
    with start_live_server(tmp_path_factory.mktemp("live-server")) as server:
        yield server


@pytest.fixture
def page(browser, server):
    """A new tab on the live server; fails the test on any uncaught script error."""
    context = browser.new_context(base_url=server.url, viewport=VIEWPORT)
    # Records every value and state each field shows (see field_history.js).
    context.add_init_script(path=str(FIELD_HISTORY_JS))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    context.close()
    assert not errors, f"script errors in the page: {errors}"
