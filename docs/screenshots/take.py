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


def playground(page):
    """The playground mid-way: a queue beyond five, a timeout, a warning and a
    cancel, with the timeline showing them as shapes."""
    from bcpages.demo import codeunits as cu
    from tests.browser.test_playground import enqueue, open_playground, task

    open_playground(page, "10000")
    enqueue(page, cu.PLAYGROUND_BUSY_LOOP, {"Duration": "5000"}, timeout=300)   # task 1: times out
    enqueue(page, cu.PLAYGROUND_CUSTOMER_BLOCKED, error_level="warning")        # task 2: a warning
    enqueue(page, 50100, {"Wait": "3000"}, timeout=10_000, count=7)            # tasks 3-9: five run, two wait
    task(page, 9).get_by_role("button", name="Cancel").click()                  # task 9: cancelled while queued
    expect(task(page, 1)).to_have_attribute("data-task-state", "failed", timeout=DEADLINE_MS)
    expect(task(page, 2)).to_have_attribute("data-task-state", "failed", timeout=DEADLINE_MS)
    expect(task(page, 9)).to_have_attribute("data-task-state", "cancelled", timeout=DEADLINE_MS)
    expect(task(page, 3)).to_have_attribute("data-task-state", "completed", timeout=DEADLINE_MS)
    page.set_viewport_size({"width": 1280, "height": 1000})  # the form, the timeline and the list
    page.evaluate("window.scrollTo(0, 0)")  # the Cancel click scrolled the list into view


SHOTS = {"customer-card.png": customer_card, "playground.png": playground}


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
