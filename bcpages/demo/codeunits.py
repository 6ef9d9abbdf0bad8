"""The demo's codeunits: Business Central's documented example and the Customer
Statistics FactBox, which read the customer ledger.

Each runs in a child session: it reads the database, never writes, and returns
strings as the user sees them.
"""

import datetime
import time
from decimal import Decimal

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from bcpages.fields import format_value
from tasks import codeunit

PBT_WAIT = 50100
CUST_BALANCE = 50110
CUST_SALES_PAYMENTS = 50111
CUST_OPEN_INVOICES = 50112


@codeunit(PBT_WAIT, "PBT Wait", "Waits parameters['Wait'] milliseconds and reports when it started and finished.")
def pbt_wait(parameters):
    wait_ms = int(parameters.get("Wait", "1000"))
    started = timezone.localtime()
    time.sleep(wait_ms / 1000)
    finished = timezone.localtime()
    return {
        "started": started.strftime("%H:%M:%S.%f")[:-3],
        "waited": str(wait_ms),
        "finished": finished.strftime("%H:%M:%S.%f")[:-3],
    }


def money(amount, negate=False):
    """An amount as the user sees it: always two decimals, 0.00 when there is none."""
    amount = Decimal(0) if amount is None else amount
    return format_value(-amount if negate else amount)


def _ledger(parameters):
    from bcpages.demo.models import CustLedgerEntry

    return CustLedgerEntry.objects.filter(customer_id=parameters["CustomerNo"])


def _today(parameters):
    # Tests pin the date; pages leave it to the child session's clock.
    return datetime.date.fromisoformat(parameters["Today"]) if "Today" in parameters else timezone.localdate()


@codeunit(CUST_BALANCE, "Cust. Balance", "Balance and overdue balance of parameters['CustomerNo'].")
def customer_balance(parameters):
    today = _today(parameters)
    totals = _ledger(parameters).filter(open=True).aggregate(
        balance=Sum("remaining_amount"),
        due=Sum("remaining_amount", filter=Q(due_date__lt=today)),
    )
    return {"balance": money(totals["balance"]), "balance_due": money(totals["due"])}


@codeunit(CUST_SALES_PAYMENTS, "Cust. Sales & Payments", "This year's sales and payments of parameters['CustomerNo'], and the last payment date.")
def customer_sales_and_payments(parameters):
    today = _today(parameters)
    year_start = today.replace(month=1, day=1)
    ledger = _ledger(parameters)
    this_year = ledger.filter(posting_date__gte=year_start, posting_date__lte=today).aggregate(
        sales=Sum("amount", filter=Q(document_type="Invoice")),
        payments=Sum("amount", filter=Q(document_type="Payment")),
    )
    last_payment = ledger.filter(document_type="Payment").aggregate(last=Max("posting_date"))["last"]
    return {
        "sales_this_year": money(this_year["sales"]),
        "payments_this_year": money(this_year["payments"], negate=True),
        "last_payment_date": format_value(last_payment),
    }


@codeunit(CUST_OPEN_INVOICES, "Cust. Open Invoices", "Number of open invoices of parameters['CustomerNo'].")
def customer_open_invoices(parameters):
    count = _ledger(parameters).filter(open=True, document_type="Invoice").aggregate(n=Count("entry_no"))["n"]
    return {"open_invoices": str(count)}


# Role center cues: one codeunit each, so that each cue loads, fails and refreshes
# on its own, and opening the role center shows the 5-running limit at work.
CUE_SALES_THIS_MONTH = 50120
CUE_OVERDUE_AMOUNT = 50121
CUE_OPEN_INVOICES = 50122
CUE_PAYMENTS_THIS_MONTH = 50123
CUE_AVERAGE_COLLECTION_DAYS = 50124
CUE_TOP_CUSTOMER = 50125
CUE_SALES_TODAY_LIVE = 50126


def _all_entries():
    from bcpages.demo.models import CustLedgerEntry

    return CustLedgerEntry.objects.all()


@codeunit(CUE_SALES_THIS_MONTH, "Cue: Sales This Month", "Invoiced amount posted this month, all customers.")
def cue_sales_this_month(parameters):
    today = _today(parameters)
    total = _all_entries().filter(document_type="Invoice", posting_date__gte=today.replace(day=1), posting_date__lte=today).aggregate(s=Sum("amount"))["s"]
    return {"value": money(total)}


@codeunit(CUE_OVERDUE_AMOUNT, "Cue: Overdue Sales Invoice Amount", "Remaining amount of open invoices past their due date.")
def cue_overdue_amount(parameters):
    today = _today(parameters)
    total = _all_entries().filter(document_type="Invoice", open=True, due_date__lt=today).aggregate(s=Sum("remaining_amount"))["s"]
    return {"value": money(total)}


@codeunit(CUE_OPEN_INVOICES, "Cue: Open Sales Invoices", "Number of open posted sales invoices.")
def cue_open_invoices(parameters):
    return {"value": str(_all_entries().filter(document_type="Invoice", open=True).count())}


@codeunit(CUE_PAYMENTS_THIS_MONTH, "Cue: Payments This Month", "Payments received this month, all customers.")
def cue_payments_this_month(parameters):
    today = _today(parameters)
    total = _all_entries().filter(document_type="Payment", posting_date__gte=today.replace(day=1), posting_date__lte=today).aggregate(s=Sum("amount"))["s"]
    return {"value": money(total, negate=True)}


@codeunit(CUE_AVERAGE_COLLECTION_DAYS, "Cue: Average Collection Days", "Average days from invoice to payment over the last 90 days of payments.")
def cue_average_collection_days(parameters):
    """Payments settle invoices of the same customer; approximate BC's figure as the
    average age of the invoices closed by payments in the last 90 days."""
    today = _today(parameters)
    since = today - datetime.timedelta(days=90)
    closed = _all_entries().filter(document_type="Invoice", open=False, due_date__gte=since, posting_date__lte=today).values_list("posting_date", "due_date")
    days = [(due - posted).days for posted, due in closed]
    return {"value": f"{sum(days) / len(days):.1f}" if days else "0.0"}


@codeunit(CUE_TOP_CUSTOMER, "Cue: Top Customer This Year", "The customer with the highest sales this year.")
def cue_top_customer(parameters):
    today = _today(parameters)
    top = (
        _all_entries().filter(document_type="Invoice", posting_date__gte=today.replace(month=1, day=1), posting_date__lte=today)
        .values("customer__no", "customer__name").annotate(total=Sum("amount")).order_by("-total").first()
    )
    return {"value": f"{top['customer__name']} ({format_value(top['total'])})" if top else ""}


@codeunit(CUE_SALES_TODAY_LIVE, "Cue: Sales Today (live)", "Waits parameters['Delay'] ms, then reports today's invoiced amount and the time: a cue that refreshes itself.")
def cue_sales_today_live(parameters):
    time.sleep(int(parameters.get("Delay", "0")) / 1000)
    today = _today(parameters)
    total = _all_entries().filter(document_type="Invoice", posting_date=today).aggregate(s=Sum("amount"))["s"]
    return {"value": money(total), "as_of": timezone.localtime().strftime("%H:%M:%S")}


# The playground's teaching codeunits (bcpages/demo/playground.py). Each one shows
# one rule of PBT-SPEC.md when it is enqueued; the playground fills in
# parameters["CustomerNo"] from its current record, as page code would.
PLAYGROUND_BUSY_LOOP = 50130
PLAYGROUND_LONG_QUERY = 50131
PLAYGROUND_CUSTOMER_BLOCKED = 50132
PLAYGROUND_RENAME_CUSTOMER = 50133
PLAYGROUND_NON_STRING_RESULT = 50134
PLAYGROUND_KILL_OWN_PROCESS = 50135
PLAYGROUND_ECHO_CUSTOMER = 50136

# Counts in the database engine, not in Python: works on SQLite and PostgreSQL.
_COUNTING_QUERY = (
    "WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter WHERE n < %s) "
    "SELECT count(*) FROM counter"
)


class CustomerBlocked(Exception):
    """An error with a code of its own: the task fails with code CustomerBlocked (S23)."""

    code = "CustomerBlocked"


@codeunit(PLAYGROUND_BUSY_LOOP, "Busy Loop", "Burns CPU in a Python loop for parameters['Duration'] ms; a timeout or a cancel must really stop it (S16).")
def busy_loop(parameters):
    end = time.monotonic() + int(parameters.get("Duration", "2000")) / 1000
    rounds = 0
    while time.monotonic() < end:
        rounds += 1
    return {"rounds": f"{rounds:,}"}


@codeunit(PLAYGROUND_LONG_QUERY, "Long SQL Query", "Counts to parameters['Count'] with a recursive SQL query: the database works, and a timeout stops the query (S16).")
def long_query(parameters):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_COUNTING_QUERY, [int(parameters.get("Count", "10000000"))])
        return {"count": f"{cursor.fetchone()[0]:,}"}


@codeunit(PLAYGROUND_CUSTOMER_BLOCKED, "Customer Blocked", "Raises an error with the code CustomerBlocked: the error trigger gets its code, text and call stack (S23, S27).")
def customer_blocked(parameters):
    no = parameters.get("CustomerNo")
    raise CustomerBlocked(f"Customer {no} is blocked for all transactions." if no else "The customer is blocked for all transactions.")


@codeunit(PLAYGROUND_RENAME_CUSTOMER, "Rename Customer", "Tries to rename customer parameters['CustomerNo'] through the ORM: a child session is read-only, so it fails (S18).")
def rename_customer(parameters):
    from bcpages.demo.models import Customer

    customer = Customer.objects.get(no=parameters["CustomerNo"])
    customer.name = f"{customer.name} (renamed by a background task)"
    customer.save()
    return {"renamed": customer.name}


@codeunit(PLAYGROUND_NON_STRING_RESULT, "Non-String Result", "Returns {'Count': 42}, a number where a string is required: the task fails with InvalidTaskResult (S6).")
def non_string_result(parameters):
    return {"Count": 42}


@codeunit(PLAYGROUND_KILL_OWN_PROCESS, "Kill Own Process", "Sends SIGKILL to its own process: the task fails with ChildSessionCrashed and the other tasks carry on (S24).")
def kill_own_process(parameters):
    import os
    import signal

    from tasks import readonly

    # Only in a child process of its own: where child sessions run inside the
    # server (an engine without the process pool), SIGKILL would stop the server.
    if not getattr(readonly, "_child_process", False):
        raise RuntimeError("This child session does not run in a process of its own; killing it would stop the server.")
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


@codeunit(PLAYGROUND_ECHO_CUSTOMER, "Echo Customer", "Waits parameters['Wait'] ms, then returns the customer it was enqueued for: a result never lands on another record (S17).")
def echo_customer(parameters):
    from bcpages.demo.models import Customer

    time.sleep(int(parameters.get("Wait", "0")) / 1000)
    no = parameters.get("CustomerNo", "")
    name = Customer.objects.filter(no=no).values_list("name", flat=True).first()
    return {"CustomerNo": no, "Name": name or ""}
