"""Issue "the customer card fills in live": the customer card in a real browser,
against Daphne with the embedded worker (PBT-SPEC.md S14, S17, S33)."""

import re

import pytest
from playwright.sync_api import expect

from bcpages.demo.pages import CustomerCard
from tests.browser.helpers import (
    DEADLINE_MS, STATISTICS_FIELDS, TASK_FIELDS, WAIT_FIELDS, WAIT_NOTIFICATION,
    field, field_history, notification, open_card, wait_until_filled,
)
from tests.browser.ledger import amount, expected_statistics

pytestmark = pytest.mark.browser


def test_card_shows_its_own_fields_at_once_and_fills_in_task_fields_live(page):  # S33
    page.goto("/customers/10000/")

    # The record's own fields are in the HTML: shown before any script ran.
    expect(field(page, "customer_name")).to_have_text("Adatum Corporation")
    assert field_history(page, "customer_name")[0] == ["10000", "ok", "Adatum Corporation", False]
    # PBT Wait takes a second, so Start Time is still loading now.
    expect(field(page, "start_time")).to_have_attribute("data-state", "loading")
    # The statistics may already be in; what the user saw first was "loading".
    for name in TASK_FIELDS:
        assert field_history(page, name)[0] == ["10000", "loading", "", False], name

    wait_until_filled(page)
    expect(field(page, "start_time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$"))
    expect(field(page, "end_time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$"))
    expect(field(page, "duration")).to_have_text("1000 ms")
    expect(notification(page, "info", WAIT_NOTIFICATION)).to_have_count(1)
    expect(page.locator('[data-state="failed"]')).to_have_count(0)


def test_statistics_factbox_shows_the_customers_ledger_totals(page, server):
    expected = expected_statistics(server.database, "10000")
    # The oracle itself, from tests/factories.py: 10000's open entries are the
    # invoices of 250.50 and 100.00 (the others are paid, remaining 0.00).
    assert expected == {"balance": "350.50", "open_invoices": "2"}

    page.goto("/customers/10000/")

    # Customer Statistics is a FactBox on the right; the PBT Wait fields are a FastTab.
    factbox = page.locator(".factbox-pane .factbox", has_text="Customer Statistics")
    fasttab = page.locator(".fasttab", has_text="Background task")
    expect(factbox.locator('[data-field="balance"]')).to_have_count(1)
    expect(fasttab.locator('[data-field="start_time"]')).to_have_count(1)
    assert factbox.bounding_box()["x"] > fasttab.bounding_box()["x"] + fasttab.bounding_box()["width"]

    wait_until_filled(page, STATISTICS_FIELDS)
    expect(field(page, "balance")).to_have_text(expected["balance"])
    expect(field(page, "open_invoices")).to_have_text(expected["open_invoices"])


def test_next_twice_quickly_ends_on_the_last_customer_and_cancels_the_skipped_one(page, server):  # S14, S17
    expected = expected_statistics(server.database, "30000")
    open_card(page, "10000")

    # Two clicks as close together as a user can make them.
    page.locator('[data-navigate="next"]').dblclick()

    expect(page).to_have_url(f"{server.url}/customers/30000/", timeout=DEADLINE_MS)
    expect(page.locator("body")).to_have_attribute("data-record", "30000")
    expect(field(page, "customer_name")).to_have_text("School of Fine Art")
    expect(field(page, "city")).to_have_text("Miami")
    wait_until_filled(page)
    # 30000 has no ledger entries: a zero balance, shown as "0.00".
    expect(field(page, "balance")).to_have_text(expected["balance"])
    expect(field(page, "open_invoices")).to_have_text(expected["open_invoices"])
    # Only 30000's PBT Wait completed: 10000's and 20000's were cancelled on the way.
    expect(notification(page, "info", WAIT_NOTIFICATION)).to_have_count(1)

    # The skipped record's tasks stay in the panel, marked as previous. Its PBT Wait
    # (1 s) was surely live at the second click, so it was cancelled (S14); a
    # statistics task of a few milliseconds may have finished in the moment 20000
    # was current, and then rightly showed 20000's figure while 20000 was shown.
    skipped = page.locator('[data-task-record="20000"]')
    expect(skipped).to_have_count(4)
    expect(skipped.locator("xpath=self::*[@data-codeunit='50100']")).to_have_attribute("data-task-state", "cancelled")
    for row in skipped.all():
        expect(row).to_have_attribute("data-task-state", re.compile(r"^(cancelled|completed)$"))
        expect(row).to_have_attribute("data-previous", "")

    # Whatever of 10000 and 20000 had not completed when the page left them was
    # cancelled; what had completed had shown that record's own figures.
    for record in ("10000", "20000"):
        assert_left_behind(page, record)

    history = field_history(page)
    for name in WAIT_FIELDS:
        # 20000 was on screen for a moment, but its cancelled PBT Wait never reached it.
        assert all(value == "" for record, _, value, _ in history[name] if record == "20000"), history[name]
    skipped_figures = expected_statistics(server.database, "20000")
    for name, right in skipped_figures.items():
        # Whatever 20000 showed of its statistics was 20000's own figure (S17).
        shown = {value for record, _, value, _ in history[name] if record == "20000"} - {""}
        assert all(amount(value) == amount(right) for value in shown), (name, history[name])
    for name, entries in history.items():
        # Once the page showed 30000, each field showed nothing but 30000's value
        # (or the empty loading placeholder): never a value left over from 20000.
        final = entries[-1][2]
        shown = {value for record, _, value, _ in entries if record == "30000"}
        assert shown <= {final, ""}, (name, entries)


def assert_left_behind(page, record):
    """Every task of ``record``, which the page has left, ended: completed when its
    result reached the page while ``record`` was shown, otherwise cancelled (S14).
    Deterministic: a result is either handled before the navigation (and shown) or
    belongs to a task the navigation cancelled."""
    history = field_history(page)
    rows = page.locator(f'[data-task-record="{record}"]')
    expect(rows).to_have_count(4)
    for row in rows.all():
        expect(row).to_have_attribute("data-task-state", re.compile(r"^(cancelled|completed)$"))
        codeunit = int(row.get_attribute("data-codeunit"))
        names = [name for name, spec in CustomerCard.fields.items() if spec.codeunit == codeunit]
        shown = any(value for name in names for shown_for, _, value, _ in history[name] if shown_for == record)
        assert row.get_attribute("data-task-state") == ("completed" if shown else "cancelled"), (record, codeunit, history)


def test_first_and_last_show_the_first_and_last_customer(page, server):
    open_card(page, "10000")
    wait_until_filled(page)  # nothing left to cancel: this test is about where the steps lead

    for step, no, name in (("last", "30000", "School of Fine Art"), ("first", "10000", "Adatum Corporation")):
        page.locator(f'[data-navigate="{step}"]').click()
        expect(page).to_have_url(f"{server.url}/customers/{no}/", timeout=DEADLINE_MS)
        expect(field(page, "customer_name")).to_have_text(name)
        wait_until_filled(page)
        expect(field(page, "balance")).to_have_text(expected_statistics(server.database, no)["balance"])


def test_a_zero_balance_is_shown_with_two_decimals(page, server):  # S33
    expected = expected_statistics(server.database, "30000")
    page.goto("/customers/30000/")
    wait_until_filled(page, STATISTICS_FIELDS)
    assert field(page, "balance").text_content() == expected["balance"]


def test_back_and_forward_show_the_record_of_that_history_entry(page, server):
    open_card(page, "10000")
    page.locator('[data-navigate="next"]').click()
    expect(page).to_have_url(f"{server.url}/customers/20000/", timeout=DEADLINE_MS)
    expect(field(page, "customer_name")).to_have_text("Trey Research")

    page.go_back()
    expect(page).to_have_url(f"{server.url}/customers/10000/")
    expect(page.locator("body")).to_have_attribute("data-record", "10000", timeout=DEADLINE_MS)
    expect(field(page, "customer_name")).to_have_text("Adatum Corporation")
    expect(page.locator('[data-bind="customer_name"]')).to_have_text("Adatum Corporation")

    page.go_forward()
    expect(page.locator("body")).to_have_attribute("data-record", "20000", timeout=DEADLINE_MS)
    expect(page).to_have_url(f"{server.url}/customers/20000/")
    expect(field(page, "customer_name")).to_have_text("Trey Research")


def test_refresh_keeps_the_last_values_visible_until_the_new_ones_arrive(page):  # S33
    page.goto("/customers/10000/")
    wait_until_filled(page, STATISTICS_FIELDS)
    before = field_history(page, "balance")

    page.get_by_role("button", name="Refresh statistics").click()

    # The refresh's "loading" may last milliseconds: wait for the recording of it.
    page.wait_for_function(
        """count => {
            const entries = window.__fieldHistory.balance.slice(count);
            return entries.some(e => e[1] === "loading") && entries[entries.length - 1][1] === "ok";
        }""",
        arg=len(before),
        timeout=DEADLINE_MS,
    )
    value = before[-1][2]
    refresh = field_history(page, "balance")[len(before):]
    # Loading, with the old value still shown and marked refreshing; then ok again.
    assert refresh == [["10000", "loading", value, True], ["10000", "ok", value, False]]


def test_field_update_for_another_record_is_ignored(page):  # S17
    open_card(page, "10000")
    wait_until_filled(page, STATISTICS_FIELDS)
    balance = field(page, "balance").text_content()

    page.evaluate(
        """() => bcpages.page.handleFrame({type: "field.update", record: "20000",
               fields: {balance: "75.25"}, field_states: {balance: "ok"}})"""
    )

    expect(field(page, "balance")).to_have_text(balance)
    assert all(value != "75.25" for _, _, value, _ in field_history(page, "balance"))
