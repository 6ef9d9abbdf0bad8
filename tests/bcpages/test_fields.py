"""Field values are strings as the user sees them."""

import datetime
from decimal import Decimal

import pytest

from bcpages.fields import format_value


@pytest.mark.parametrize(
    "value, shown",
    [
        (None, ""),
        (True, "Yes"),
        (False, "No"),
        (Decimal("350.5"), "350.50"),
        (Decimal("-1234567.891"), "-1,234,567.89"),
        (Decimal("-0.001"), "0.00"),
        (4.09e-12, "0.00"),  # what SQLite's SUM of decimals can return
        (-4.09e-12, "0.00"),
        (1234.5, "1,234.50"),
        (42, "42"),
        (datetime.date(2026, 6, 15), "2026-06-15"),
        ("as is", "as is"),
    ],
)
def test_format_value(value, shown):
    assert format_value(value) == shown


def test_a_second_page_of_the_same_name_is_a_start_up_error():
    from django.core.exceptions import ImproperlyConfigured

    from bcpages.pages import CardPage, get_page_class

    with pytest.raises(ImproperlyConfigured) as refused:
        class MyCustomerCard(CardPage):
            name = "customer-card"
    assert "Page name 'customer-card' is taken twice: by bcpages.demo.pages.CustomerCard and by" in str(refused.value)
    assert get_page_class("customer-card").__module__ == "bcpages.demo.pages"  # the demo's page stays
