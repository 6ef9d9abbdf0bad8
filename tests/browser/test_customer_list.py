"""The customer list: one row per customer, each linking to its card."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import field

pytestmark = pytest.mark.browser


def test_customer_list_links_every_customer_to_its_card(page, server):
    page.goto("/customers/")

    rows = page.locator("tbody tr[data-customer]")
    expect(rows).to_have_count(3)
    expect(rows.nth(2)).to_contain_text("School of Fine Art")
    expect(rows.nth(2)).to_contain_text("Miami")

    page.get_by_role("link", name="School of Fine Art").click()

    expect(page).to_have_url(f"{server.url}/customers/30000/")
    expect(field(page, "customer_name")).to_have_text("School of Fine Art")
