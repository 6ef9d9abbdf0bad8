"""The websocket as the page sees it: the connection indicator, reconnection after
an abnormal close only, and the page opened again on the new connection."""

import json

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DEADLINE_MS, STATISTICS_FIELDS, field, open_card, wait_until_filled

pytestmark = pytest.mark.browser


def test_connection_indicator_shows_connected(page):
    page.goto("/customers/10000/")

    expect(page.locator("body")).to_have_attribute("data-connected", "true", timeout=DEADLINE_MS)
    indicator = page.locator("[data-connection-indicator]")
    expect(indicator.locator(".connection-on")).to_be_visible()
    expect(indicator.locator(".connection-off")).to_be_hidden()


def test_page_reconnects_after_an_abnormal_close_and_opens_its_record_again(page):
    connections = []  # per websocket: its route and the frames the page sent on it

    def proxy(route):
        # Forward everything both ways, and remember what the page sent.
        upstream = route.connect_to_server()
        connection = {"route": route, "sent": []}
        connections.append(connection)

        def from_page(message):
            connection["sent"].append(json.loads(message))
            upstream.send(message)

        route.on_message(from_page)

    page.route_web_socket("**/ws/pages/", proxy)
    open_card(page, "10000")
    page.locator('[data-navigate="next"]').click()
    expect(page.locator("body")).to_have_attribute("data-record", "20000", timeout=DEADLINE_MS)
    wait_until_filled(page, STATISTICS_FIELDS)

    # The server goes away the way a restart looks to a browser (1012: not a
    # close the page asked for): the page must come back by itself.
    connections[0]["route"].close(code=1012, reason="Service restart")

    # The new connection is a new parent session: it lists its tasks again.
    expect(page.locator('[data-task-record="20000"][data-connection="1"]')).to_have_count(4, timeout=DEADLINE_MS)
    expect(page.locator("body")).to_have_attribute("data-connected", "true")
    assert len(connections) == 2
    # It opened the page on the record it was showing, first thing.
    assert connections[1]["sent"][0] == {"type": "page.open", "page": "customer-card", "record": "20000"}
    wait_until_filled(page, STATISTICS_FIELDS)
    expect(field(page, "customer_name")).to_have_text("Trey Research")

    # A normal close (1000) is one somebody asked for: no reconnection.
    connections[1]["route"].close(code=1000, reason="Bye")
    expect(page.locator("body")).to_have_attribute("data-connected", "false", timeout=DEADLINE_MS)
    # The close handler decides at once whether to come back: it did not.
    assert page.evaluate("() => bcpages.page.socket.reconnecting") is False
    assert len(connections) == 2
