"""Small helpers shared by the browser tests."""

from pathlib import Path

from playwright.sync_api import expect

# Long enough for a cold start (the embedded worker starts on the first
# websocket), far below the 120 s test timeout. Expectations return as soon as
# they hold: this is a deadline, not a wait.
DEADLINE_MS = 10_000

# The customer card's fields that background tasks fill in (bcpages/demo/pages.py).
WAIT_FIELDS = ("start_time", "duration", "end_time")
STATISTICS_FIELDS = (
    "balance", "balance_due", "sales_this_year", "payments_this_year", "last_payment_date", "open_invoices",
)
TASK_FIELDS = WAIT_FIELDS + STATISTICS_FIELDS
WAIT_NOTIFICATION = "Start and finish times have been updated."


def field(page, name):
    return page.locator(f'[data-field="{name}"]')


def field_history(page, name=None):
    """What field_history.js recorded: per field, [record, state, value, refreshing] entries."""
    history = page.evaluate("() => window.__fieldHistory")
    return history if name is None else history.get(name, [])


def record_task_panel(page):
    """From the next page load on, record every state of the task panel (task_panel_history.js)."""
    page.add_init_script(path=str(Path(__file__).with_name("task_panel_history.js")))


def task_panel_history(page):
    """What task_panel_history.js recorded: snapshots {task id: [codeunit, state]}, in order."""
    return [{int(task_id): tuple(row) for task_id, row in snapshot.items()} for snapshot in page.evaluate("() => window.__taskPanelHistory")]


def notification(page, level, text):
    return page.locator(f'[data-notifications] [data-level="{level}"]', has_text=text)


def open_card(page, no, deadline_ms=DEADLINE_MS):
    """Open customer ``no`` and wait until its parent session answered (its tasks are listed)."""
    page.goto(f"/customers/{no}/")
    expect(page.locator("body")).to_have_attribute("data-connected", "true", timeout=deadline_ms)
    expect(page.locator(f'[data-task-record="{no}"]')).to_have_count(4, timeout=deadline_ms)


def wait_until_filled(page, names=TASK_FIELDS, deadline_ms=DEADLINE_MS):
    for name in names:
        expect(field(page, name)).to_have_attribute("data-state", "ok", timeout=deadline_ms)
