"""Issue "the playground": every rule tried in a real browser, against Daphne with
the embedded worker, through the playground's own form (PBT-SPEC.md)."""

import colorsys
import re
import sqlite3

import pytest
from playwright.sync_api import expect

from bcpages.demo import codeunits as cu
from tests.browser.helpers import DEADLINE_MS

pytestmark = pytest.mark.browser

# Draining a queue through the test server's two child sessions takes seconds.
DRAIN_MS = 40_000
TIMEOUT_TEXT = "Child Session task was terminated because of a timeout."


def open_playground(page, no="10000"):
    page.goto(f"/playground/{no}/")
    expect(page.locator("body")).to_have_attribute("data-connected", "true", timeout=DEADLINE_MS)
    expect(page.locator("body")).to_have_attribute("data-record", no)


def enqueue(page, codeunit, parameters=None, timeout=None, error_level="error", count=1, handled=False):
    """Fill in the playground's form and press Enqueue, as a person would."""
    form = page.locator("[data-playground-form]")
    form.locator("[data-codeunit]").select_option(str(codeunit))
    if parameters is not None:
        form.locator(".pg-param-remove").evaluate_all("buttons => buttons.forEach(b => b.click())")
        for key, value in parameters.items():
            form.get_by_role("button", name="+ Add parameter").click()
            form.locator(".pg-param-key").last.fill(key)
            form.locator(".pg-param-value").last.fill(value)
    form.locator("[data-timeout]").fill("" if timeout is None else str(timeout))
    form.locator("[data-count]").fill(str(count))
    form.locator(f'input[name="error_level"][value="{error_level}"]').check()
    form.locator("[data-handled]").set_checked(handled)
    form.get_by_role("button", name="Enqueue").click()


def task(page, task_id):
    return page.locator(f'[data-playground-tasks] [data-task-id="{task_id}"]')


def tasks(page, state=None):
    selector = "[data-playground-tasks] [data-task-id]"
    return page.locator(f'{selector}[data-task-state="{state}"]' if state else selector)


def cell(row, name):
    return row.locator(f'[data-cell="{name}"]')


def counters(page):
    return page.locator("[data-counters]")


def notifications(page, level=None):
    return page.locator(f'[data-notifications] [data-level="{level}"]' if level else "[data-notifications] .notification")


def record_task_states(page):
    """From now on, window.__taskStates holds every [task id, state] the page heard, in order."""
    page.evaluate(
        """() => { window.__taskStates = [];
                   document.addEventListener("bcpages:task", (e) => window.__taskStates.push([e.detail.task_id, e.detail.state])); }"""
    )


def hue(css_color):
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", css_color)[:3])
    return colorsys.rgb_to_hls(red, green, blue)[0] * 360


def looks(locator):
    return locator.evaluate(
        "e => { const s = getComputedStyle(e); return {background: s.backgroundColor, accent: s.borderLeftColor}; }"
    )


def test_a_task_that_outlives_its_timeout_fails_with_child_session_task_timeout(page):  # S9, S11
    open_playground(page)
    enqueue(page, cu.PBT_WAIT, {"Wait": "3000"}, timeout=1000)

    row = task(page, 1)
    expect(row).to_have_attribute("data-task-state", "failed", timeout=DEADLINE_MS)
    expect(cell(row, "code")).to_have_text("ChildSessionTaskTimeout")
    expect(cell(row, "text")).to_have_text(TIMEOUT_TEXT)
    expect(row).to_have_attribute("data-outcome", "timeout")
    expect(cell(row, "why")).to_contain_text("ran longer than its timeout of 1,000 ms")
    expect(cell(row, "why")).to_contain_text("(S9, S11, S16)")
    # Error level error: the text as an error notification; a timeout shape on the timeline.
    expect(notifications(page, "error")).to_have_text(re.compile(re.escape(TIMEOUT_TEXT)))
    expect(page.locator('.tl-task[data-kind="timeout"]')).to_have_count(1)


def test_a_warning_and_an_error_notification_look_different(page):  # S26, S27
    open_playground(page)
    enqueue(page, cu.PLAYGROUND_CUSTOMER_BLOCKED, error_level="warning")
    warning = notifications(page, "warning")
    expect(warning).to_contain_text("Customer 10000 is blocked for all transactions.", timeout=DEADLINE_MS)
    enqueue(page, cu.PLAYGROUND_CUSTOMER_BLOCKED, error_level="error")
    error = notifications(page, "error")
    expect(error).to_contain_text("Customer 10000 is blocked for all transactions.", timeout=DEADLINE_MS)
    expect(cell(task(page, 2), "code")).to_have_text("CustomerBlocked")  # S23

    warning_look, error_look = looks(warning), looks(error)
    assert warning_look["background"] != error_look["background"]
    assert hue(error_look["accent"]) >= 340 or hue(error_look["accent"]) <= 10, error_look
    assert 30 <= hue(warning_look["accent"]) <= 60, warning_look


@pytest.mark.parametrize("error_level, handled", [("ignore", False), ("error", True)], ids=["ignore", "handled"])
def test_an_ignored_or_handled_error_shows_nothing(page, error_level, handled):  # S27
    open_playground(page)
    enqueue(page, cu.PLAYGROUND_CUSTOMER_BLOCKED, error_level=error_level, handled=handled)

    row = task(page, 1)
    expect(row).to_have_attribute("data-task-state", "failed", timeout=DEADLINE_MS)
    # The error trigger has run (its report arrived after any notification would have).
    expect(row).to_have_attribute("data-handled", "true" if handled else "false")
    expect(notifications(page)).to_have_count(0)
    expect(cell(row, "why")).to_contain_text("nothing was shown")


def test_twelve_one_second_waits_run_five_at_a_time_and_drain_in_order(page):  # S12, S13
    open_playground(page)
    record_task_states(page)
    enqueue(page, cu.PBT_WAIT, {"Wait": "1000"}, timeout=10_000, count=12)

    expect(counters(page)).to_have_attribute("data-running-count", "5", timeout=DEADLINE_MS)
    expect(counters(page)).to_have_attribute("data-queued-count", "7")
    expect(tasks(page)).to_have_count(12)
    expect(tasks(page, "completed")).to_have_count(12, timeout=DRAIN_MS)

    history = page.evaluate("() => window.__taskStates")
    running, queued, seen = set(), set(), []
    for task_id, state in history:
        queued.discard(task_id)
        running.discard(task_id)
        {"queued": queued, "running": running}.get(state, set()).add(task_id)
        seen.append((len(running), len(queued)))
        assert len(running) <= 5
    assert (5, 7) in seen
    # S13: each starts in enqueue order.
    assert [task_id for task_id, state in history if state == "running"] == list(range(1, 13))


def test_106_copies_fail_the_106th_with_max_queue_length_and_keep_105(page):  # S7, S12
    open_playground(page)
    enqueue(page, cu.PBT_WAIT, {"Wait": "5000"}, timeout=60_000, count=106)

    refused = page.locator('[data-playground-tasks] [data-refused="ChildSessionsMaxQueueLength"]')
    expect(refused).to_have_count(1, timeout=DEADLINE_MS)
    expect(refused).to_contain_text("copy 106 of 106")
    expect(cell(refused, "why")).to_contain_text("(S7, S12)")
    expect(notifications(page, "error")).to_contain_text(
        "ChildSessionsMaxQueueLength: copy 106 of 106 was refused; the 105 copies before it are enqueued (tasks 1-105)."
    )
    expect(tasks(page)).to_have_count(105)
    expect(counters(page)).to_have_attribute("data-running-count", "5")
    expect(counters(page)).to_have_attribute("data-queued-count", "100")
    expect(page.locator(".tl-refusal")).to_have_count(1)

    # S14: the next customer, and all 105 are cancelled at once.
    page.get_by_role("button", name="Next customer").click()
    expect(tasks(page, "cancelled")).to_have_count(105, timeout=DEADLINE_MS)


def test_a_write_fails_read_only_and_the_customer_is_unchanged(page, server):  # S18
    open_playground(page)
    enqueue(page, cu.PLAYGROUND_RENAME_CUSTOMER)

    row = task(page, 1)
    expect(row).to_have_attribute("data-task-state", "failed", timeout=DEADLINE_MS)
    expect(cell(row, "code")).to_have_text("ChildSessionReadOnly")
    expect(row).to_have_attribute("data-outcome", "read-only")
    expect(cell(row, "why")).to_contain_text("nothing was saved")
    with sqlite3.connect(server.database) as database:
        [(name,)] = database.execute("SELECT name FROM demo_customer WHERE no = '10000'").fetchall()
    assert name == "Adatum Corporation"
    page.reload()
    expect(page.locator('[data-field="customer_name"]')).to_have_text("Adatum Corporation")


def test_the_next_customer_cancels_every_pending_task(page):  # S14, S17
    open_playground(page)
    enqueue(page, cu.PBT_WAIT, {"Wait": "3000"}, timeout=10_000, count=8)
    expect(counters(page)).to_have_attribute("data-queued-count", "3", timeout=DEADLINE_MS)

    page.get_by_role("button", name="Next customer").click()

    expect(page.locator("body")).to_have_attribute("data-record", "20000", timeout=DEADLINE_MS)
    expect(page.locator('[data-field="customer_name"]')).to_have_text("Trey Research")
    expect(tasks(page, "cancelled")).to_have_count(8)
    expect(page.locator('[data-playground-tasks] [data-outcome="cancelled-navigation"]')).to_have_count(8)
    expect(cell(task(page, 8), "why")).to_have_text(
        "Cancelled: the current record changed while this task was waiting, so its result would belong "
        "to another customer. (S14, S17)"
    )
    expect(cell(task(page, 1), "why")).to_contain_text("while this task was running")
    expect(counters(page)).to_have_attribute("data-running-count", "0")
    expect(page.locator(".tl-marker")).to_have_text("\u2192 20000")


def test_cancel_returns_true_for_a_waiting_task_then_false(page):  # S8
    open_playground(page)
    enqueue(page, cu.PBT_WAIT, {"Wait": "3000"}, timeout=10_000, count=6)
    row = task(page, 6)
    expect(row).to_have_attribute("data-task-state", "queued", timeout=DEADLINE_MS)

    row.get_by_role("button", name="Cancel").click()
    expect(row).to_have_attribute("data-cancel-returned", "true", timeout=DEADLINE_MS)
    expect(row).to_have_attribute("data-task-state", "cancelled")
    expect(row).to_have_attribute("data-outcome", "cancelled-button")
    expect(cell(row, "cancel")).to_contain_text("returned True")

    row.get_by_role("button", name="Cancel").click()
    expect(row).to_have_attribute("data-cancel-returned", "false", timeout=DEADLINE_MS)
    expect(cell(row, "cancel")).to_contain_text("returned False")
    expect(page.locator('[data-field="last_call"]')).to_have_text("cancel_background_task(6) returned False")
    # The others carry on.
    expect(tasks(page, "completed")).to_have_count(5, timeout=DRAIN_MS)
