"""Take the screenshots in this folder again: ``.venv/bin/python docs/screenshots/take.py``.

Starts the browser tests' server (a fresh SQLite file with the test customers,
Daphne with the embedded worker), opens each page in Debian's Chromium at
1280x800, waits until its background tasks have filled it in, and saves a PNG.
"""

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.browser.helpers import DEADLINE_MS, TASK_FIELDS, WAIT_NOTIFICATION, field, notification  # noqa: E402
from tests.browser.live_server import launch_chromium, live_server  # noqa: E402

VIEWPORT = {"width": 1280, "height": 800}


def customer_card(page):
    page.goto("/customers/10000/")
    for name in TASK_FIELDS:
        expect(field(page, name)).to_have_attribute("data-state", "ok", timeout=DEADLINE_MS)
    expect(notification(page, "info", WAIT_NOTIFICATION)).to_have_count(1)
    # Let the notification's entrance animation finish: screenshot what stays on screen.
    page.locator(".notification").evaluate("e => Promise.all(e.getAnimations().map(a => a.finished))")


SHOTS = {"customer-card.png": customer_card}


def main():
    with tempfile.TemporaryDirectory() as directory, live_server(directory) as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for filename, show in SHOTS.items():
                context = browser.new_context(base_url=server.url, viewport=VIEWPORT)
                page = context.new_page()
                show(page)
                page.screenshot(path=HERE / filename)
                context.close()
                print(f"wrote {HERE / filename}")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
