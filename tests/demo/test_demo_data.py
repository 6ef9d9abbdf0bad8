"""The demo company's data: Microsoft's demo records plus our generated history.

The full data set (100,000+ invoice lines) is loaded once for the module and deleted
at its end; tests that load data of their own empty the tables inside their own
transaction, which is rolled back.
"""

import datetime
import hashlib
from collections import defaultdict
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.utils import timezone

from bcpages.demo import codeunits, loader
from bcpages.demo.models import (
    Customer,
    CustLedgerEntry,
    Item,
    SalesHeader,
    SalesInvoiceHeader,
    SalesInvoiceLine,
    SalesLine,
)

pytestmark = [pytest.mark.postgres]

TODAY = datetime.date(2026, 6, 15)
SMALL = {"today": TODAY, "seed": 7, "min_invoice_lines": 2_000}

Date = datetime.date


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def full_demo(django_db_setup, django_db_blocker):
    """The full demo data for ``TODAY``, committed once for this module, deleted afterwards."""
    with django_db_blocker.unblock():
        assert not loader.demo_data_present(), "another test left demo data behind"
        counts = loader.load_demo_data(today=TODAY)
        try:
            yield counts
        finally:
            loader.flush_demo_data()


@pytest.fixture
def empty_demo(db):
    """Empty demo tables for this test only: the deletion is rolled back with the test."""
    loader.flush_demo_data()


def table_counts():
    return {
        "customers": Customer.objects.count(),
        "items": Item.objects.count(),
        "sales_headers": SalesHeader.objects.count(),
        "sales_lines": SalesLine.objects.count(),
        "posted_invoices": SalesInvoiceHeader.objects.count(),
        "posted_invoice_lines": SalesInvoiceLine.objects.count(),
        "cust_ledger_entries": CustLedgerEntry.objects.count(),
    }


def ledger_by_customer():
    """Per customer: (sum of all amounts, sum of open remaining amounts), in Decimal."""
    totals = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for customer, amount, remaining, is_open in CustLedgerEntry.objects.values_list(
        "customer_id", "amount", "remaining_amount", "open"
    ):
        totals[customer][0] += amount
        if is_open:
            totals[customer][1] += remaining
    return {customer: tuple(sums) for customer, sums in totals.items()}


def digest():
    """A fingerprint of every ledger entry and posted invoice line."""
    fingerprint = hashlib.sha256()
    entry_columns = ["entry_no", "customer_id", "posting_date", "document_type", "document_no", "due_date"]
    entries = CustLedgerEntry.objects.order_by("entry_no")
    for row in entries.values_list(*entry_columns, "amount", "remaining_amount", "open"):
        fingerprint.update(repr(row).encode())
    for row in SalesInvoiceLine.objects.order_by("document_id", "line_no").values_list(
        "document_id", "line_no", "item_id", "quantity", "unit_price", "amount"
    ):
        fingerprint.update(repr(row).encode())
    return fingerprint.hexdigest()


# ------------------------------------------------------------ dates, no database


@pytest.mark.parametrize(
    ("source", "today", "expected"),
    [
        (Date(1902, 1, 1), Date(2026, 6, 15), Date(2025, 1, 1)),  # the 1st keeps its day
        (Date(1902, 12, 31), Date(2026, 6, 15), Date(2025, 12, 31)),  # so does the month's last day
        (Date(1903, 2, 28), Date(2028, 6, 15), Date(2028, 2, 28)),  # February's last day in 1995, not in 2028
        (Date(1902, 1, 17), Date(2026, 6, 15), Date(2025, 1, 13)),  # 1994-01-17: Monday of week 3
        (Date(1903, 1, 16), Date(2026, 6, 15), Date(2026, 1, 12)),  # 1995-01-16: Monday of week 3
        (Date(1903, 5, 14), Date(2027, 1, 4), Date(2027, 5, 16)),  # 1995-05-14: Sunday of week 19
    ],
)
def test_adjust_date_follows_business_central(source, today, expected):
    assert loader.adjust_date(source, today) == expected


def test_adjust_date_refuses_other_years():
    with pytest.raises(ValueError, match="1904-01-10"):
        loader.adjust_date(Date(1904, 1, 10), TODAY)


@pytest.mark.parametrize(
    ("terms", "document_date", "expected"),
    [
        ("14 DAYS", Date(2026, 1, 20), Date(2026, 2, 3)),
        ("1M(8D)", Date(2026, 1, 31), Date(2026, 2, 28)),
        ("CM", Date(2026, 2, 3), Date(2026, 2, 28)),
        ("COD", Date(2026, 2, 3), Date(2026, 2, 3)),
        ("", Date(2026, 2, 3), Date(2026, 3, 5)),
    ],
)
def test_due_date_from_payment_terms(terms, document_date, expected):
    assert loader.due_date(terms, document_date) == expected


# --------------------------------------------------------------- the full data


def test_counts(full_demo):
    counts = table_counts()
    assert counts == full_demo
    assert Customer.objects.filter(source="contoso").count() == 5
    assert Customer.objects.filter(source="cronus").count() == 63
    assert counts["items"] == 20
    assert counts["posted_invoice_lines"] >= 100_000
    # The demo tool's open documents: 7 invoices, 4 orders and 2 quotes.
    kinds = ("Invoice", "Order", "Quote")
    open_documents = {kind: SalesHeader.objects.filter(document_type=kind).count() for kind in kinds}
    assert open_documents == {"Invoice": 7, "Order": 4, "Quote": 2}


def test_customer_numbers_of_both_demo_companies(full_demo):
    adatum = Customer.objects.get(no="10000")
    assert (adatum.name, adatum.source, adatum.payment_terms_code) == ("Adatum Corporation", "contoso", "1M(8D)")
    cannon = Customer.objects.get(no="C10000")
    assert (cannon.name, cannon.source, cannon.contact, cannon.payment_terms_code) == (
        "The Cannon Group PLC",
        "cronus",
        "Andy Teal",
        "1M(8D)",
    )
    assert not Customer.objects.filter(source="cronus").exclude(no__startswith="C").exists()


def test_three_years_of_history_ending_today_for_every_customer(full_demo):
    start = loader.years_before(TODAY, 3)
    dates = SalesInvoiceHeader.objects.values_list("posting_date", flat=True)
    assert min(dates) <= start
    assert max(dates) == TODAY
    first_and_last = defaultdict(list)
    for customer, posted in SalesInvoiceHeader.objects.values_list("sell_to_customer_id", "posting_date"):
        first_and_last[customer].append(posted)
    assert len(first_and_last) == 68
    for customer, posted in first_and_last.items():
        assert min(posted) < start + datetime.timedelta(days=120), customer
        assert max(posted) > TODAY - datetime.timedelta(days=120), customer


def test_ledger_balances_for_every_customer(full_demo):
    balances = ledger_by_customer()
    assert len(balances) == 68
    for customer, (total, open_remaining) in balances.items():
        assert total == open_remaining, customer


def test_open_means_something_remains(full_demo):
    entries = CustLedgerEntry.objects.only("entry_no", "open", "remaining_amount", "amount", "document_type")
    for entry in entries.iterator():
        assert entry.open == (entry.remaining_amount != 0), entry.entry_no
        if entry.document_type == "Invoice":
            assert 0 <= entry.remaining_amount <= entry.amount and entry.amount > 0, entry.entry_no
        else:
            assert entry.amount < 0 and entry.remaining_amount == 0, entry.entry_no


def test_posted_invoices_add_up_to_their_lines_and_ledger_entries(full_demo):
    lines = defaultdict(Decimal)
    rows = SalesInvoiceLine.objects.values_list("document_id", "quantity", "unit_price", "amount")
    for document, quantity, unit_price, amount in rows:
        assert amount == (quantity * unit_price).quantize(Decimal("0.01"))
        lines[document] += amount
    invoices = dict(SalesInvoiceHeader.objects.values_list("no", "amount"))
    assert invoices == dict(lines)
    entries = dict(CustLedgerEntry.objects.filter(document_type="Invoice").values_list("document_no", "amount"))
    assert entries == invoices


def test_lines_use_the_items_and_their_prices(full_demo):
    prices = dict(Item.objects.values_list("no", "unit_price"))
    per_invoice = defaultdict(int)
    for document, item, unit_price in SalesInvoiceLine.objects.values_list("document_id", "item_id", "unit_price"):
        assert unit_price == prices[item]
        per_invoice[document] += 1
    assert set(per_invoice.values()) == set(range(1, 9))


def test_numbers_follow_posting_dates(full_demo):
    def dates_in_number_order(rows):
        return [posted for _, posted in sorted(rows)]

    invoice_dates = dates_in_number_order(SalesInvoiceHeader.objects.values_list("no", "posting_date"))
    assert invoice_dates == sorted(invoice_dates)
    payment_dates = dates_in_number_order(
        CustLedgerEntry.objects.filter(document_type="Payment").values_list("document_no", "posting_date")
    )
    assert payment_dates == sorted(payment_dates)
    entries = CustLedgerEntry.objects.order_by("entry_no").values_list("entry_no", "posting_date")
    entry_numbers, entry_dates = zip(*entries)
    assert list(entry_numbers) == list(range(1, len(entry_numbers) + 1))
    assert list(entry_dates) == sorted(entry_dates)
    assert SalesInvoiceHeader.objects.order_by("no").first().no == "PS-INV100001"


def test_statistics_differ_between_customers(full_demo):
    numbers = Customer.objects.values_list("no", flat=True)
    parameters = [{"CustomerNo": no, "Today": TODAY.isoformat()} for no in numbers]
    balances = [codeunits.customer_balance(p) for p in parameters]
    open_invoices = [codeunits.customer_open_invoices(p)["open_invoices"] for p in parameters]
    assert len({b["balance"] for b in balances}) > 40
    assert len({b["balance_due"] for b in balances}) > 20
    assert len(set(open_invoices)) > 10
    # Some customers owe nothing overdue, others do; some are paid up entirely.
    overdue = CustLedgerEntry.objects.filter(open=True, due_date__lt=TODAY)
    customers_overdue = set(overdue.values_list("customer_id", flat=True))
    assert 0 < len(customers_overdue) < len(numbers)
    assert Customer.objects.exclude(ledger_entries__open=True).exists()
    # Some invoices are partly paid.
    open_invoices = CustLedgerEntry.objects.filter(document_type="Invoice", open=True)
    assert open_invoices.filter(remaining_amount__lt=F("amount")).exists()


def test_source_documents(full_demo):
    # The comment line of the open invoice stays a line without item or amount.
    comment = SalesLine.objects.get(type=" ")
    assert (comment.item_id, comment.description, comment.line_amount) == (None, "Thank you for ordering", 0)
    # The demo tool's first posted invoice: Trey Research, 3 AMSTERDAM Lamps, 1902-01-17 -> 2025-01-13, COD.
    trey = SalesInvoiceHeader.objects.filter(sell_to_customer_id="20000")
    first = trey.get(posting_date=Date(2025, 1, 13), amount=Decimal("106.80"))
    assert first.due_date == Date(2025, 1, 13)
    assert list(first.lines.values_list("item_id", "quantity")) == [("1928-S", 3)]
    # RECONCILE invoices stay open: the demo company matches them to a bank statement.
    reconcile = [("20000", Date(2026, 1, 23), 1), ("30000", Date(2026, 1, 24), 4), ("50000", Date(2026, 1, 31), 2)]
    for customer, posted, line_count in reconcile:
        invoice = next(
            header
            for header in SalesInvoiceHeader.objects.filter(sell_to_customer_id=customer, posting_date=posted)
            if header.lines.count() == line_count
        )
        entry = CustLedgerEntry.objects.get(document_no=invoice.no)
        assert entry.open and entry.remaining_amount == entry.amount, invoice.no
    # LATE invoices are paid N days after their due date: Trey Research's 1903-01-16 + 64 days
    # is 2026-03-17, due 2026-03-31, paid 64 days later on 2026-06-03.
    late = trey.filter(posting_date=Date(2026, 3, 17), due_date=Date(2026, 3, 31))
    assert CustLedgerEntry.objects.filter(document_no__in=late.values("no"), open=False).exists()
    payments = CustLedgerEntry.objects.filter(customer_id="20000", document_type="Payment")
    assert payments.filter(posting_date=Date(2026, 6, 3)).exists()


# ------------------------------------------------------------------ the command


def test_if_empty_leaves_existing_data_alone(full_demo):
    before = digest()
    out = StringIO()
    call_command("load_demo_data", "--if-empty", stdout=out)
    assert "already loaded" in out.getvalue()
    assert table_counts() == full_demo
    assert digest() == before


def test_loading_over_existing_data_fails_and_writes_nothing(full_demo):
    before = digest()
    with pytest.raises(CommandError, match="already loaded.*--flush"):
        call_command("load_demo_data", stdout=StringIO())
    with pytest.raises(loader.DemoDataPresent, match="68 customers"):
        loader.load_demo_data(**SMALL)
    assert table_counts() == full_demo
    assert digest() == before


def test_flush_replaces_the_data(empty_demo):
    loader.load_demo_data(**SMALL)
    out = StringIO()
    call_command("load_demo_data", "--flush", "--today", "2026-06-15", "--seed", "8", "--lines", "1000", stdout=out)
    assert "Deleted the demo tables' rows." in out.getvalue()
    assert "Loaded the demo data in" in out.getvalue()
    assert Customer.objects.count() == 68
    assert 1000 <= SalesInvoiceLine.objects.count() < 2_000


def test_bad_today_is_named(db):
    with pytest.raises(CommandError, match="'2026-13-01'"):
        call_command("load_demo_data", "--today", "2026-13-01", stdout=StringIO())


# ------------------------------------------------------------- smaller loads


def test_same_seed_and_day_give_the_same_data(empty_demo):
    loader.load_demo_data(**SMALL)
    first, first_balances = digest(), ledger_by_customer()
    loader.flush_demo_data()
    loader.load_demo_data(**SMALL)
    assert ledger_by_customer() == first_balances
    assert digest() == first
    loader.flush_demo_data()
    loader.load_demo_data(**{**SMALL, "seed": 8})
    assert digest() != first


def test_history_ends_today_by_default(empty_demo):
    loader.load_demo_data(min_invoice_lines=500)
    today = timezone.localdate()
    assert SalesInvoiceHeader.objects.filter(posting_date=today).exists()
    assert SalesInvoiceHeader.objects.filter(posting_date=loader.years_before(today, 3)).exists()


def test_a_failed_load_writes_nothing(empty_demo, monkeypatch):
    real_bulk = loader.bulk

    def failing_bulk(model, objects):
        if model is CustLedgerEntry:
            raise RuntimeError("disk full")
        return real_bulk(model, objects)

    monkeypatch.setattr(loader, "bulk", failing_bulk)
    with pytest.raises(RuntimeError, match="disk full"):
        loader.load_demo_data(**SMALL)
    assert table_counts() == dict.fromkeys(table_counts(), 0)
