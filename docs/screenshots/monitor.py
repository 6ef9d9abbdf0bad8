"""Take docs/screenshots/monitor.png: the live monitor while a few pages work.

    .venv/bin/python docs/screenshots/monitor.py [output.png]

Starts a live server on a fresh database (tests/browser/live_server.py) with the
project's settings (four child sessions), adds an administrator and a binding,
then opens in Debian's Chromium: the role center, a customer card that navigates
(cancellations), the playground enqueueing more than five slow tasks (queueing),
one that times out and one that fails, and the monitor, which it photographs.
Its pauses stage the picture (bars spread over time); nothing here is a test.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT_DIR))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.browser.live_server import ROOT, launch_chromium, live_server, server_environment  # noqa: E402

OUTPUT = ROOT / "docs" / "screenshots" / "monitor.png"
SETTINGS = "bcpages.settings"
SETUP = """
from django.contrib.auth import get_user_model
from tasks.models import CodeunitBinding
get_user_model().objects.create_superuser("admin", "", "admin")
CodeunitBinding.objects.create(page="customer-card", codeunit_id=50110, caption="Credit Check",
    parameters={"CustomerNo": "{no}"}, results="balance_due: Overdue (LCY)")
"""


def action(page, name, **args):
    page.evaluate("([name, args]) => window.bcpages.page.action(name, args)", [name, args])


def main(output=OUTPUT):
    os.environ["BCPAGES_CHILD_SESSIONS"] = "4"
    with tempfile.TemporaryDirectory(prefix="bcpages-monitor-shot-") as folder, live_server(folder, SETTINGS) as server:
        subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP], cwd=ROOT,
                       env=server_environment(server.database, SETTINGS), check=True, capture_output=True, timeout=120)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 900}, device_scale_factor=1)
            admin = context.new_page()
            admin.goto("/admin/login/?next=/admin/tasks/monitor/")
            admin.fill("#id_username", "admin")
            admin.fill("#id_password", "admin")
            admin.click("input[type=submit]")
            expect(admin.locator("[data-monitor]")).to_have_attribute("data-connected", "true", timeout=10_000)

            # About 25 s of work, so that the 30 s window is full.
            role_center = context.new_page()
            role_center.goto("/")  # seven cues, then a cue that refreshes itself every 3 s
            time.sleep(1.0)
            card = context.new_page()
            card.goto("/customers/10000/")
            expect(card.locator("body")).to_have_attribute("data-connected", "true", timeout=10_000)
            time.sleep(2.0)
            card.click('[data-navigate="next"]')
            time.sleep(0.3)
            card.click('[data-navigate="next"]')  # 20000's tasks are cancelled
            time.sleep(2.5)
            playground = context.new_page()
            playground.goto("/playground/20000/")
            expect(playground.locator("body")).to_have_attribute("data-connected", "true", timeout=10_000)
            action(playground, "enqueue", codeunit=50100, parameters={"Wait": "2500"}, count=8)  # 5 run, 3 queue
            time.sleep(2.5)
            other = context.new_page()
            other.goto("/playground/30000/")
            expect(other.locator("body")).to_have_attribute("data-connected", "true", timeout=10_000)
            action(other, "enqueue", codeunit=50100, parameters={"Wait": "4000"}, timeout=1500, error_level="warning")
            action(other, "enqueue", codeunit=50100, parameters={"Wait": "soon"}, error_level="ignore")  # fails
            action(other, "enqueue", codeunit=50100, parameters={"Wait": "1200"}, count=3)
            time.sleep(4.0)
            card.click('[data-navigate="previous"]')
            time.sleep(0.4)
            card.click('[data-navigate="previous"]')  # cancelled again
            time.sleep(2.0)
            action(playground, "enqueue", codeunit=50100, parameters={"Wait": "1500"}, count=7)
            time.sleep(2.5)
            second_card = context.new_page()
            second_card.goto("/customers/30000/")
            time.sleep(4.0)
            admin.bring_to_front()
            admin.locator('[data-window="30"]').click()
            time.sleep(0.3)
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            admin.screenshot(path=str(output), full_page=True)
            browser.close()
    print(f"wrote {output}")


if __name__ == "__main__":
    main(*(sys.argv[1:2] or [OUTPUT]))
