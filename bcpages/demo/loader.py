"""Loads the demo company.

Two parts:

* Microsoft's demo data, copied into ``bcpages/demo/data`` (see SOURCE.md there):
  the 5 Contoso customers, the 63 classic CRONUS customers (numbers prefixed "C"),
  the 20 items and the 227 sales documents of the Contoso demo tool.
* Our own generated history, deterministic for a seed and a date: years of posted
  sales invoices for all 68 customers and the payments that settle most of them.

``load_demo_data()`` writes everything in one transaction; ``demo_data_present()``
and ``flush_demo_data()`` serve the ``load_demo_data`` management command.

Choices where the source leaves room:

* Comment lines ("Thank you for ordering") stay lines of the open documents (type " ",
  no item, no amount) but are left out of posted invoices, whose lines need an item.
* The source's LATE invoices are paid their ``posting_date_plus_days`` after the due
  date; its RECONCILE invoices stay open for the bank reconciliation.
* Amounts are item unit prices (LCY) times quantity, whatever the customer's currency;
  there is no cash discount, and every payment is applied in full.
"""

import calendar
import csv
import datetime
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from bcpages.demo.models import (
    Customer,
    CustLedgerEntry,
    Item,
    SalesHeader,
    SalesInvoiceHeader,
    SalesInvoiceLine,
    SalesLine,
)

DATA_DIR = Path(__file__).resolve().parent / "data"

DEFAULT_SEED = 1903
HISTORY_YEARS = 3
MIN_INVOICE_LINES = 100_000

CENT = Decimal("0.01")

# Number series, Business Central style: a prefix and a running number.
POSTED_INVOICE_NOS = ("PS-INV", 100001)
PAYMENT_NOS = ("PAY", 100001)
OPEN_DOCUMENT_NOS = {"Quote": ("S-QUO", 1001), "Order": ("S-ORD", 1001), "Invoice": ("S-INV", 1001)}

# Children before parents, so that no PROTECT or CASCADE has anything to do.
DEMO_MODELS_IN_DELETE_ORDER = [
    SalesInvoiceLine,
    CustLedgerEntry,
    SalesInvoiceHeader,
    SalesLine,
    SalesHeader,
    Customer,
    Item,
]

# The classic CRONUS file has no posting group; these follow the Contoso ones
# (DOMESTIC for GB, EU for EU members, FOREIGN otherwise). Our derivation.
EU_COUNTRIES = {"AT", "BE", "CZ", "DE", "DK", "ES", "FR", "NL", "SE", "SI"}


class DemoDataPresent(Exception):
    """The demo tables already hold customers: loading again would duplicate them."""


# --------------------------------------------------------------------------- dates


def adjust_date(source_date, today):
    """Business Central's ``ContosoUtilities.AdjustDate`` with "Starting Year" = last year.

    The source dates use the placeholder years 1902 (-> last year) and 1903 (-> this
    year). Like the AL code, the date is first moved 92 years on (1902 -> 1994): the
    1st and the last day of a month keep their day of the month; any other day keeps
    the ISO weekday and ISO week number of that 1994/1995 date in the target year.
    """
    if source_date.year not in (1902, 1903):
        raise ValueError(f"Source date {source_date.isoformat()} is not in the placeholder years 1902 or 1903.")
    moved = source_date.replace(year=source_date.year + 92)
    year = moved.year + (today.year - 1) - 1994
    last_day = calendar.monthrange(moved.year, moved.month)[1]
    if moved.day in (1, last_day):
        return datetime.date(year, moved.month, moved.day)
    _, week, weekday = moved.isocalendar()
    # A week 53 only exists in some years; AL's DWY2Date would fail there too, we take the year's last week.
    weeks_in_year = datetime.date(year, 12, 28).isocalendar()[1]
    return datetime.date.fromisocalendar(year, min(week, weeks_in_year), weekday)


def add_months(day, months):
    """``CalcDate('<nM>')``: the same day of the month, or the month's last day if it is shorter."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_date(payment_terms_code, document_date):
    """The due date that the payment terms give a document dated ``document_date``."""
    if payment_terms_code == "14 DAYS":
        return document_date + datetime.timedelta(days=14)
    if payment_terms_code == "1M(8D)":
        return add_months(document_date, 1)
    if payment_terms_code == "CM":
        return document_date.replace(day=calendar.monthrange(document_date.year, document_date.month)[1])
    if payment_terms_code == "COD":
        return document_date
    return document_date + datetime.timedelta(days=30)


def years_before(day, years):
    """The same calendar day ``years`` earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def next_weekday(day):
    """``day``, or the Monday after it when it falls on a weekend (banks book on weekdays)."""
    return day + datetime.timedelta(days=7 - day.weekday() if day.weekday() >= 5 else 0)


# ----------------------------------------------------------------- source files


def read_csv(name):
    """The rows of one of the copied data files, as dicts."""
    with open(DATA_DIR / name, newline="", encoding="utf-8-sig") as file:
        return list(csv.DictReader(file))


def decimal(text):
    return Decimal(text or "0").quantize(CENT)


def contoso_customers():
    """The 5 modern Contoso customers, with their own numbers."""
    return [
        Customer(
            no=row["customer_no"],
            name=row["name"],
            address=row["address"],
            address_2=row["address_2"],
            post_code=row["post_code"],
            city=row["city"],
            county=row["county"],
            country_region_code=row["country_region_code"],
            contact=row["contact"],
            email=row["email"],
            currency_code=row["currency_code"],
            payment_terms_code=row["payment_terms_code"],
            credit_limit_lcy=decimal(row["credit_limit_lcy"]),
            salesperson_code=row["salesperson_code"],
            customer_posting_group=row["customer_posting_group"],
            source="contoso",
        )
        for row in read_csv("customers.csv")
    ]


def cronus_customers():
    """The 63 classic CRONUS customers, numbered "C" + their number (theirs collide with Contoso's)."""
    customers = []
    for row in read_csv("customers_classic_cronus.csv"):
        country = row["country_region_code"]
        customers.append(
            Customer(
                no="C" + row["customer_no"],
                name=row["name"],
                address=row["address"],
                address_2=row["address_2"],
                post_code=row["post_code"],
                city=row["city"],
                county=row["county"],
                country_region_code=country,
                contact=row["contact_name"],
                currency_code=row["currency_code"],
                payment_terms_code=row["payment_terms_code_derived"],
                # The source limits are in foreign currency (see SOURCE.md), not LCY: left at 0.
                salesperson_code=row["salesperson_code_derived"],
                customer_posting_group=customer_posting_group(country, row["currency_code"]),
                source="cronus",
            )
        )
    return customers


def customer_posting_group(country, currency_code):
    if country == "GB" and not currency_code:
        return "DOMESTIC"
    return "EU" if country in EU_COUNTRIES else "FOREIGN"


def items():
    """The 20 office-furniture items."""
    return [
        Item(
            no=row["item_no"],
            description=row["description"],
            type=row["type"],
            base_unit_of_measure=row["base_unit_of_measure"],
            unit_price=decimal(row["unit_price"]),
            unit_cost=decimal(row["unit_cost"]),
            item_category_code=row["item_category_code"],
            inventory_posting_group=row["inventory_posting_group"],
        )
        for row in read_csv("items.csv")
    ]


# ------------------------------------------------------------- posted invoices


@dataclass(slots=True)
class Invoice:
    """A posted sales invoice before it gets its number (numbers follow posting dates)."""

    customer_no: str
    posting_date: datetime.date
    due_date: datetime.date
    #: (item, quantity, line amount); comment lines are not kept (SalesInvoiceLine needs an item).
    lines: list
    your_reference: str = ""
    #: For the source's LATE invoices: days after the due date that the payment comes.
    days_late: int = 0
    amount: Decimal = Decimal(0)
    remaining: Decimal = Decimal(0)
    no: str = ""

    def __post_init__(self):
        self.amount = sum((amount for _, _, amount in self.lines), Decimal(0))


@dataclass(slots=True)
class Payment:
    """One payment of a customer on one day, and the invoices it settles (all of it is applied)."""

    customer_no: str
    posting_date: datetime.date
    applied: list = field(default_factory=list)  # (invoice, amount)
    no: str = ""

    @property
    def amount(self):
        return sum((amount for _, amount in self.applied), Decimal(0))


def line(item, quantity):
    return (item, quantity, (item.unit_price * quantity).quantize(CENT))


def source_date(row, column, today):
    """A date column of sales_lines.csv: ``AdjustDate(<column>_src)`` plus ``<column>_plus_days`` if any."""
    adjusted = adjust_date(datetime.date.fromisoformat(row[f"{column}_src"]), today)
    return adjusted + datetime.timedelta(days=int(row.get(f"{column}_plus_days") or 0))


def source_documents(today, items_by_no):
    """The demo tool's sales documents: (posted invoices, open documents).

    Open documents are (document type, header fields, lines) with comment lines kept.
    """
    documents = defaultdict(list)
    for row in read_csv("sales_lines.csv"):
        documents[int(row["doc_seq"])].append(row)

    posted, open_documents = [], []
    for _, rows in sorted(documents.items()):
        head = rows[0]
        posting_date = source_date(head, "posting_date", today)
        document_date = source_date(head, "document_date", today)
        terms = head["payment_terms_code"]
        if head["posted_by_demo_tool"] == "true":
            lines = [line(items_by_no[row["item_no"]], Decimal(row["quantity"])) for row in rows if row["item_no"]]
            posted.append(
                Invoice(
                    customer_no=head["sell_to_customer_no"],
                    posting_date=posting_date,
                    due_date=due_date(terms, document_date),
                    lines=lines,
                    your_reference=head["your_reference"],
                    days_late=int(head["posting_date_plus_days"] or 0) if head["your_reference"] == "LATE" else 0,
                )
            )
        else:
            header = {
                "sell_to_customer_id": head["sell_to_customer_no"],
                "order_date": source_date(head, "order_date", today),
                "posting_date": posting_date,
                "due_date": due_date(terms, document_date),
                "your_reference": head["your_reference"],
                "payment_terms_code": terms,
            }
            open_documents.append((head["document_type"], header, rows))
    return posted, open_documents


# --------------------------------------------------------------- the generator


@dataclass(frozen=True)
class PaymentHabit:
    """How a customer pays: shares of invoices paid on time, in two parts, never."""

    name: str
    on_time: float
    max_days_late: int
    partial: float
    never: float
    #: "invoice" pays each invoice, "week" pays on Fridays, "month" on the month's last weekday.
    rhythm: str


PAYMENT_HABITS = [
    # (habit, share of customers)
    (PaymentHabit("prompt", on_time=0.97, max_days_late=7, partial=0.0, never=0.0, rhythm="invoice"), 0.30),
    (PaymentHabit("regular", on_time=0.85, max_days_late=25, partial=0.03, never=0.002, rhythm="week"), 0.35),
    (PaymentHabit("slow", on_time=0.45, max_days_late=70, partial=0.08, never=0.01, rhythm="month"), 0.25),
    (PaymentHabit("difficult", on_time=0.25, max_days_late=150, partial=0.15, never=0.04, rhythm="invoice"), 0.10),
]


@dataclass
class Profile:
    """A customer's size, favourite items and payment habit, drawn once per load."""

    customer: Customer
    weight: float
    favourites: list
    habit: PaymentHabit


def profiles(rng, customers, all_items):
    habits = [habit for habit, _ in PAYMENT_HABITS]
    shares = [share for _, share in PAYMENT_HABITS]
    return [
        Profile(
            customer=customer,
            weight=min(4.0, max(0.25, rng.lognormvariate(0, 0.6))),
            favourites=rng.sample(all_items, rng.randint(8, 14)),
            habit=rng.choices(habits, shares)[0],
        )
        for customer in customers
    ]


def quantity_for(rng, item):
    # Expensive items sell a few at a time, chairs and lamps by the dozen.
    if item.unit_price >= 400:
        return Decimal(rng.randint(1, 4))
    if item.unit_price >= 100:
        return Decimal(rng.randint(1, 12))
    return Decimal(rng.randint(1, 24))


def generate_invoices(rng, customer_profiles, start, today, min_lines):
    """Posted invoices of 1-8 lines between ``start`` and ``today`` until there are ``min_lines`` lines.

    Every customer gets at least one invoice; the history starts on ``start`` and ends
    on ``today`` (one invoice is pinned to each); the others fall on weekdays.
    """
    weekdays = [
        start + datetime.timedelta(days=offset)
        for offset in range((today - start).days + 1)
        if (start + datetime.timedelta(days=offset)).weekday() < 5
    ]
    cumulative, total = [], 0.0
    for profile in customer_profiles:
        total += profile.weight
        cumulative.append(total)

    invoices, lines = [], 0
    while lines < min_lines or len(invoices) < max(2, len(customer_profiles)):
        number = len(invoices)
        if number < len(customer_profiles):
            profile = customer_profiles[number]
        else:
            profile = rng.choices(customer_profiles, cum_weights=cumulative)[0]
        posting_date = start if number == 0 else today if number == 1 else rng.choice(weekdays)
        chosen = rng.sample(profile.favourites, rng.randint(1, 8))
        invoice_lines = [line(item, quantity_for(rng, item)) for item in chosen]
        terms = profile.customer.payment_terms_code
        invoices.append(Invoice(profile.customer.no, posting_date, due_date(terms, posting_date), invoice_lines))
        lines += len(invoice_lines)
    return invoices


def payday(habit, day):
    """The day a customer with this habit actually books a payment it means to make on ``day``."""
    if habit.rhythm == "week":
        return day + datetime.timedelta(days=(4 - day.weekday()) % 7)
    if habit.rhythm == "month":
        last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        while last.weekday() >= 5:
            last -= datetime.timedelta(days=1)
        return last if last >= day else next_weekday(day)
    return next_weekday(day)


def generate_payments(rng, invoices, habits, today):
    """Payments up to ``today`` for the invoices, following each customer's habit.

    The source's LATE invoices are paid their ``days_late`` after the due date and its
    RECONCILE invoices stay open (the demo company matches them to a bank statement).
    Payments that would fall after ``today`` have not happened: their invoices stay open.
    """
    planned = []  # (customer, day, invoice, amount)
    for invoice in invoices:
        habit = habits[invoice.customer_no]
        if invoice.your_reference == "RECONCILE":
            continue
        if invoice.your_reference == "LATE":
            day = next_weekday(invoice.due_date + datetime.timedelta(days=invoice.days_late))
            planned.append((invoice.customer_no, day, invoice, invoice.amount))
            continue
        if rng.random() < habit.never:
            continue
        if rng.random() < habit.on_time:
            days_to_due = (invoice.due_date - invoice.posting_date).days
            day = invoice.posting_date + datetime.timedelta(days=rng.randint(0, days_to_due))
        else:
            day = invoice.due_date + datetime.timedelta(days=rng.randint(1, habit.max_days_late))
        day = payday(habit, day)
        if rng.random() < habit.partial:
            first = (invoice.amount * Decimal(rng.randint(20, 80)) / 100).quantize(CENT)
            planned.append((invoice.customer_no, day, invoice, first))
            if rng.random() < 0.75:
                later = payday(habit, day + datetime.timedelta(days=rng.randint(7, 60)))
                planned.append((invoice.customer_no, later, invoice, invoice.amount - first))
        else:
            planned.append((invoice.customer_no, day, invoice, invoice.amount))

    payments = {}
    for customer_no, day, invoice, amount in planned:
        if day > today:
            continue
        payment = payments.setdefault((customer_no, day), Payment(customer_no, day))
        payment.applied.append((invoice, amount))

    for invoice in invoices:
        invoice.remaining = invoice.amount
    for payment in payments.values():
        for invoice, amount in payment.applied:
            invoice.remaining -= amount
    return list(payments.values())


def number(records, series, key):
    """Gives ``records`` the numbers of ``series`` in the order of ``key`` (posting date first)."""
    prefix, first = series
    records.sort(key=key)
    for offset, record in enumerate(records):
        record.no = f"{prefix}{first + offset}"


# ------------------------------------------------------------------ database


def batch_size(model):
    """Rows per INSERT: SQLite allows 999 variables per statement, PostgreSQL far more."""
    limit = connection.features.max_query_params or 65535
    return max(1, min(5000, limit // len(model._meta.concrete_fields)))


def bulk(model, objects):
    model.objects.bulk_create(objects, batch_size=batch_size(model))
    return len(objects)


def demo_data_present():
    """Whether the demo company has been loaded (any customer exists)."""
    return Customer.objects.exists()


def present_message():
    return (
        f"The demo tables already hold {Customer.objects.count()} customers: "
        "loading again would duplicate the demo data, so flush it first."
    )


def flush_demo_data():
    """Deletes every row of the demo tables, children first."""
    # Plain DELETEs: the ORM's collector would read 100,000 rows back just to cascade.
    with transaction.atomic(), connection.cursor() as cursor:
        for model in DEMO_MODELS_IN_DELETE_ORDER:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


def open_document_records(open_documents, items_by_no):
    """SalesHeader and SalesLine objects for the open quotes, orders and invoices."""
    headers, lines, counters = [], [], {}
    for document_type, fields, rows in open_documents:
        prefix, first = OPEN_DOCUMENT_NOS[document_type]
        counters[document_type] = counters.get(document_type, first - 1) + 1
        header = SalesHeader(document_type=document_type, no=f"{prefix}{counters[document_type]}", **fields)
        headers.append(header)
        for row in rows:
            item = items_by_no.get(row["item_no"])
            quantity = Decimal(row["quantity"] or 0)
            lines.append(
                SalesLine(
                    document=header,
                    line_no=int(row["line_no"]),
                    type="Item" if item else " ",
                    item=item,
                    description=row["description"],
                    quantity=quantity,
                    unit_price=item.unit_price if item else Decimal(0),
                    line_amount=(item.unit_price * quantity).quantize(CENT) if item else Decimal(0),
                )
            )
    return headers, lines


def ledger_entries(invoices, payments):
    """Customer ledger entries for the invoices and payments, numbered in posting-date order."""
    entries = [
        CustLedgerEntry(
            customer_id=invoice.customer_no,
            posting_date=invoice.posting_date,
            document_type=CustLedgerEntry.DocumentType.INVOICE,
            document_no=invoice.no,
            description=f"Invoice {invoice.no}",
            due_date=invoice.due_date,
            amount=invoice.amount,
            remaining_amount=invoice.remaining,
            open=invoice.remaining != 0,
        )
        for invoice in invoices
    ]
    for payment in payments:
        settled = sorted({invoice.no for invoice, _ in payment.applied})
        entries.append(
            CustLedgerEntry(
                customer_id=payment.customer_no,
                posting_date=payment.posting_date,
                document_type=CustLedgerEntry.DocumentType.PAYMENT,
                document_no=payment.no,
                description=f"Payment {settled[0]}" if len(settled) == 1 else f"Payment, {len(settled)} invoices",
                due_date=payment.posting_date,
                amount=-payment.amount,
                # A payment is applied in full to the invoices it settles.
                remaining_amount=Decimal(0),
                open=False,
            )
        )
    # On one day, invoices come before payments; numbers are already in date order.
    entries.sort(key=lambda entry: (entry.posting_date, entry.document_type != "Invoice", entry.document_no))
    for entry_no, entry in enumerate(entries, start=1):
        entry.entry_no = entry_no
    return entries


def invoice_records(invoices):
    headers, lines = [], []
    for invoice in invoices:
        headers.append(
            SalesInvoiceHeader(
                no=invoice.no,
                sell_to_customer_id=invoice.customer_no,
                posting_date=invoice.posting_date,
                due_date=invoice.due_date,
                amount=invoice.amount,
            )
        )
        for index, (item, quantity, amount) in enumerate(invoice.lines, start=1):
            lines.append(
                SalesInvoiceLine(
                    document_id=invoice.no,
                    line_no=index * 10000,
                    item_id=item.no,
                    description=item.description,
                    quantity=quantity,
                    unit_price=item.unit_price,
                    amount=amount,
                )
            )
    return headers, lines


# ---------------------------------------------------------------------- entry


def load_demo_data(
    today=None, seed=DEFAULT_SEED, stdout=None, years=HISTORY_YEARS, min_invoice_lines=MIN_INVOICE_LINES
):
    """Loads the demo company into empty demo tables; returns the number of rows per table.

    ``today`` (default: today's local date) ends the generated history, which starts
    ``years`` earlier and holds at least ``min_invoice_lines`` posted invoice lines.
    The same ``seed`` and ``today`` always give the same data. Raises
    ``DemoDataPresent`` when customers exist already; writes nothing if anything fails.
    """
    started = time.perf_counter()
    if demo_data_present():
        # Checked again inside the transaction; this saves building the data in vain.
        raise DemoDataPresent(present_message())
    today = today or timezone.localdate()
    start = years_before(today, years)

    def say(message):
        if stdout is not None:
            stdout.write(f"[{time.perf_counter() - started:5.1f}s] {message}\n")

    customers = contoso_customers() + cronus_customers()
    all_items = items()
    items_by_no = {item.no: item for item in all_items}

    posted, open_documents = source_documents(today, items_by_no)
    rng = random.Random(seed)
    customer_profiles = profiles(rng, customers, all_items)
    generated = generate_invoices(rng, customer_profiles, start, today, min_invoice_lines)
    say(f"Generated {len(generated):,} invoices from {start.isoformat()} to {today.isoformat()} (seed {seed}).")

    # Numbers follow posting dates across the source's and the generated invoices.
    invoices = posted + generated
    number(invoices, POSTED_INVOICE_NOS, key=lambda invoice: invoice.posting_date)
    habits = {profile.customer.no: profile.habit for profile in customer_profiles}
    payments = generate_payments(rng, invoices, habits, today)
    number(payments, PAYMENT_NOS, key=lambda payment: (payment.posting_date, payment.customer_no))

    sales_headers, sales_lines = open_document_records(open_documents, items_by_no)
    invoice_headers, invoice_lines = invoice_records(invoices)
    entries = ledger_entries(invoices, payments)
    say(f"Built {len(invoice_lines):,} invoice lines and {len(entries):,} ledger entries.")

    with transaction.atomic():
        if demo_data_present():
            raise DemoDataPresent(present_message())
        counts = {
            "customers": bulk(Customer, customers),
            "items": bulk(Item, all_items),
            "sales_headers": bulk(SalesHeader, sales_headers),
        }
        # bulk_create has set the headers' primary keys; the lines take them from there.
        for sales_line in sales_lines:
            sales_line.document_id = sales_line.document.pk
        counts["sales_lines"] = bulk(SalesLine, sales_lines)
        counts["posted_invoices"] = bulk(SalesInvoiceHeader, invoice_headers)
        counts["posted_invoice_lines"] = bulk(SalesInvoiceLine, invoice_lines)
        counts["cust_ledger_entries"] = bulk(CustLedgerEntry, entries)
    say("Written.")
    return counts
