"""Small, explicit test data (the full demo data set is tested in tests/demo)."""

import datetime
from decimal import Decimal

TODAY = datetime.date(2026, 6, 15)


def make_customers():
    from bcpages.demo.models import Customer, CustLedgerEntry

    customers = [
        Customer.objects.create(no="10000", name="Adatum Corporation", city="Cambridge", payment_terms_code="1M(8D)"),
        Customer.objects.create(no="20000", name="Trey Research", city="London", payment_terms_code="14 DAYS"),
        Customer.objects.create(no="30000", name="School of Fine Art", city="Miami", payment_terms_code="CM"),
    ]
    entries = [
        # customer, posting date, type, amount, remaining, due date
        ("10000", "2026-01-10", "Invoice", "1000.00", "0.00", "2026-02-10"),
        ("10000", "2026-02-01", "Payment", "-1000.00", "0.00", "2026-02-01"),
        ("10000", "2026-03-05", "Invoice", "250.50", "250.50", "2026-04-05"),
        ("10000", "2026-06-01", "Invoice", "100.00", "100.00", "2026-07-01"),
        ("10000", "2025-11-20", "Invoice", "400.00", "0.00", "2025-12-20"),
        ("10000", "2025-12-01", "Payment", "-400.00", "0.00", "2025-12-01"),
        ("20000", "2026-05-01", "Invoice", "75.25", "75.25", "2026-05-15"),
    ]
    for number, (customer, posted, kind, amount, remaining, due) in enumerate(entries, start=1):
        CustLedgerEntry.objects.create(
            entry_no=number,
            customer_id=customer,
            posting_date=datetime.date.fromisoformat(posted),
            document_type=kind,
            document_no=f"D{number:05d}",
            due_date=datetime.date.fromisoformat(due),
            amount=Decimal(amount),
            remaining_amount=Decimal(remaining),
            open=Decimal(remaining) != 0,
        )
    return customers
