"""Notifications, message boxes and failed fields as the browser shows them
(PBT-SPEC.md S27, S33)."""

import colorsys
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DEADLINE_MS, STATISTICS_FIELDS, field, open_card, wait_until_filled

pytestmark = pytest.mark.browser


def hue(css_color):
    """The hue, in degrees, of a computed "rgb(r, g, b)" color."""
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", css_color)[:3])
    return colorsys.rgb_to_hls(red, green, blue)[0] * 360


def looks(locator):
    return locator.evaluate(
        "e => { const s = getComputedStyle(e); return {background: s.backgroundColor, accent: s.borderLeftColor}; }"
    )


def test_warnings_and_errors_look_different(page):  # S27
    open_card(page, "10000")

    # A real error frame: the server refuses to navigate to a customer that does not exist.
    page.evaluate("() => bcpages.page.navigate({record: '99999'})")
    error = page.locator('[data-notifications] [data-level="error"]')
    expect(error).to_contain_text("99999", timeout=DEADLINE_MS)
    expect(error.locator(".notification-code")).to_have_text("UnknownRecord")

    # No demo page can produce a warning yet (the card's only warning-level task,
    # PBT Wait, does not fail), so the client gets the frame a failed
    # warning-level task would bring (bcpages.frames.notification).
    page.evaluate(
        """() => bcpages.page.handleFrame({type: "notification", level: "warning",
               text: "The customer's credit limit has been exceeded.", task_id: 7})"""
    )
    warning = page.locator('[data-notifications] [data-level="warning"]')
    expect(warning).to_have_count(1)

    error_look, warning_look = looks(error), looks(warning)
    assert error_look != warning_look
    assert error_look["background"] != warning_look["background"]
    # Red for errors, amber/yellow for warnings, as Business Central shows them.
    assert hue(error_look["accent"]) >= 340 or hue(error_look["accent"]) <= 10, error_look
    assert 30 <= hue(warning_look["accent"]) <= 60, warning_look

    # Dismissible.
    warning.get_by_role("button", name="Dismiss").click()
    expect(warning).to_have_count(0)


def test_a_dialog_frame_shows_a_message_box_until_ok(page):
    open_card(page, "10000")

    page.evaluate("() => bcpages.page.handleFrame({type: 'dialog', text: 'Statistics were recalculated.'})")

    dialog = page.locator("[data-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Statistics were recalculated.")
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_be_hidden()


def test_a_failed_field_looks_failed_and_says_why(page):  # S33
    open_card(page, "10000")
    wait_until_filled(page, STATISTICS_FIELDS)

    # What the server sends when a statistics task fails: the task's state with
    # its error, then the field update that marks its fields failed.
    page.evaluate(
        """() => {
            bcpages.page.handleFrame({type: "task.state", task_id: 90, codeunit: 50110,
                codeunit_name: "Cust. Balance", record: "10000", state: "failed",
                code: "ChildSessionTaskTimeout", text: "Child Session task was terminated because of a timeout."});
            bcpages.page.handleFrame({type: "field.update", record: "10000",
                fields: {balance: "", balance_due: ""}, field_states: {balance: "failed", balance_due: "failed"}});
        }"""
    )

    balance = field(page, "balance")
    expect(balance).to_have_attribute("data-state", "failed")
    expect(balance).to_have_attribute(
        "title", "ChildSessionTaskTimeout: Child Session task was terminated because of a timeout."
    )
    assert 340 <= hue(balance.evaluate("e => getComputedStyle(e).color")) or hue(
        balance.evaluate("e => getComputedStyle(e).color")) <= 10
    row = page.locator('[data-task-id="90"]')
    expect(row).to_have_attribute("data-task-state", "failed")
    expect(row).to_contain_text("ChildSessionTaskTimeout")
