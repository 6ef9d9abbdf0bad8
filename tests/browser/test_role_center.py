"""The role center: one cue tile per field, filled in by background tasks (S33)."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DEADLINE_MS

pytestmark = pytest.mark.browser

# The cues computed once when the page opens (bcpages/demo/pages.py RoleCenter.CUES).
# "Sales Today (live)" is left out: it re-enqueues itself, so it is loading most
# of the time by design.
CUES = ("sales_this_month", "overdue_amount", "open_invoices", "payments_this_month",
        "average_collection_days", "top_customer")


def test_role_center_cues_fill_in(page):  # S33
    page.goto("/")

    tile = page.locator(".cue", has=page.locator('[data-field="overdue_amount"]'))
    expect(tile).to_contain_text("Overdue Sales Invoice Amount")
    for name in CUES:
        cue = page.locator(f'.cue [data-field="{name}"]')
        expect(cue).to_have_attribute("data-state", "ok", timeout=DEADLINE_MS)
        expect(cue).not_to_have_text("")
    expect(page.locator('[data-state="failed"]')).to_have_count(0)
