"""What the Customer Statistics FactBox should show, read straight from the test
database with SQL: an oracle independent of the codeunits under test."""

import sqlite3
from decimal import Decimal


def expected_statistics(database, customer_no):
    """Balance (LCY) and Open Invoices of ``customer_no`` as the page formats them
    (bcpages.fields.format_value: thousands separator, two decimals)."""
    with sqlite3.connect(database) as connection:
        open_entries = connection.execute(
            "SELECT document_type, remaining_amount FROM demo_custledgerentry WHERE customer_id = ? AND open",
            (customer_no,),
        ).fetchall()
    # Balance (LCY): what is still to be paid on open entries.
    balance = sum((Decimal(str(remaining)) for _, remaining in open_entries), Decimal(0))
    open_invoices = sum(1 for kind, _ in open_entries if kind == "Invoice")
    return {"balance": f"{balance:,.2f}", "open_invoices": str(open_invoices)}


def amount(text):
    """The number an amount shown on the page stands for ("1,250.50" -> Decimal)."""
    return Decimal(text.replace(",", ""))
