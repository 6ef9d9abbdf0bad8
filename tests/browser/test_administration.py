"""The administrator's day, in Chromium against a live Daphne (tests/browser's
fixtures): disable a codeunit and see a card fail, enable it again, bind a
codeunit and see its field fill in on the next card, watch the tasks live."""

import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DEADLINE_MS, field, notification
from tests.browser.live_server import ROOT, server_environment

pytestmark = [pytest.mark.browser]

ADMIN = ("browser-admin", "browser-admin-password")
CREATE_ADMIN = (
    "from django.contrib.auth import get_user_model; U = get_user_model(); "
    f"U.objects.filter(username={ADMIN[0]!r}).exists() or U.objects.create_superuser({ADMIN[0]!r}, '', {ADMIN[1]!r})"
)


@pytest.fixture(scope="module")
def administrator(server):
    """A superuser in the live server's database."""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CREATE_ADMIN],
        cwd=ROOT, env=server_environment(server.database), check=True, capture_output=True, timeout=120,
    )
    return ADMIN


def log_in(page, administrator):
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", administrator[0])
    page.fill("#id_password", administrator[1])
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible(timeout=DEADLINE_MS)


def set_enabled(page, codeunit_id, enabled):
    page.goto(f"/admin/tasks/codeunitsetting/{codeunit_id}/change/")
    checkbox = page.locator("#id_enabled")
    checkbox.check() if enabled else checkbox.uncheck()
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist .success")).to_be_visible(timeout=DEADLINE_MS)


@pytest.fixture
def restore_administration(browser, server, administrator):
    """After the test, passed or failed, leave the shared server as the other browser
    tests expect it: no bindings, codeunit 50112 enabled. Done through the admin in
    a tab of its own (the test's may be stuck), so that the server drops its cached
    settings at once (tasks.settings_cache)."""
    yield
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        log_in(page, administrator)
        page.goto("/admin/tasks/codeunitbinding/")
        if page.locator("#action-toggle").count():
            page.check("#action-toggle")
            page.select_option("select[name=action]", "delete_selected")
            page.click("button[name=index]")
            page.click("input[type=submit]")
            expect(page.locator("ul.messagelist .success")).to_be_visible(timeout=DEADLINE_MS)
        set_enabled(page, 50112, True)
    finally:
        context.close()


def test_administrator_disables_a_codeunit_binds_another_and_watches_the_tasks(page, administrator, restore_administration):  # S7, S33, S36
    errors = []
    log_in(page, administrator)

    # 1. Disabled: the card's "Open Invoices" fails, with the reason.
    set_enabled(page, 50112, False)
    page.goto("/customers/10000/")
    expect(field(page, "open_invoices")).to_have_attribute("data-state", "failed", timeout=DEADLINE_MS)
    expect(notification(page, "error", "is disabled by an administrator")).to_be_visible(timeout=DEADLINE_MS)

    # 2. Enabled again: the same card fills in.
    set_enabled(page, 50112, True)
    page.goto("/customers/10000/")
    expect(field(page, "open_invoices")).to_have_attribute("data-state", "ok", timeout=DEADLINE_MS)
    expect(field(page, "open_invoices")).to_have_text("2")

    # 3. A binding: echo the customer's city into a "Credit Check" FactBox.
    page.goto("/admin/tasks/codeunitbinding/add/")
    page.select_option("#id_page", "customer-card")
    page.select_option("#id_codeunit", "99001")
    page.fill("#id_caption", "Credit Check")
    page.fill("#id_parameters", '{"City": "{city}", "CustomerNo": "{no}"}')
    page.fill("#id_results", "City: City (checked)\nCustomerNo: Checked No.")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist .success")).to_be_visible(timeout=DEADLINE_MS)

    # 4. The monitor in one tab, the next card in another.
    monitor = page.context.new_page()
    monitor.on("pageerror", lambda error: errors.append(error))
    monitor.goto("/admin/tasks/monitor/")
    expect(monitor.locator("[data-monitor]")).to_have_attribute("data-connected", "true", timeout=DEADLINE_MS)
    card = page.context.new_page()
    card.on("pageerror", lambda error: errors.append(error))
    card.goto("/customers/20000/")
    city = card.locator('[data-part="Credit Check"] [data-field$="_City"]')
    expect(city).to_have_count(1)
    expect(city).to_have_attribute("data-state", "ok", timeout=DEADLINE_MS)
    expect(city).to_have_text("London")
    expect(card.locator('[data-part="Credit Check"]')).to_contain_text("City (checked)")

    # 5. The card's tasks in the monitor's timeline: its four, and the binding's.
    row = monitor.locator('[data-timeline] [data-session-page="customer-card"][data-session-record="20000"]')
    expect(row).to_have_count(1, timeout=DEADLINE_MS)
    for codeunit in (50100, 50110, 50111, 50112, 99001):
        expect(row.locator(f'[data-codeunit="{codeunit}"][data-task-state="completed"]')).to_have_count(1, timeout=DEADLINE_MS)
    expect(monitor.locator('[data-metric="sessions"]')).to_have_text("1")
    expect(monitor.locator('[data-metric="completed"]')).not_to_have_text("0")

    # 6. Navigating cancels: to 30000 and straight back, its "PBT Wait" (1 s) and
    # the rest show cancelled in the same row.
    card.click('[data-navigate="next"]')
    expect(card.locator("body")).to_have_attribute("data-record", "30000", timeout=DEADLINE_MS)
    card.click('[data-navigate="previous"]')
    expect(card.locator("body")).to_have_attribute("data-record", "20000", timeout=DEADLINE_MS)
    expect(row.locator('[data-codeunit="50100"][data-task-state="cancelled"]')).to_have_count(1, timeout=DEADLINE_MS)
    expect(monitor.locator('[data-metric="cancelled"]')).not_to_have_text("0")
    assert errors == []
