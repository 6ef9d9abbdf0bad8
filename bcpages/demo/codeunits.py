"""The demo's codeunits: Business Central's documented example and the Customer
Statistics FactBox, which read the customer ledger.

Each runs in a child session: it reads the database, never writes, and returns
strings as the user sees them.
"""

import datetime
import time

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
    return {"balance": format_value(totals["balance"] or 0), "balance_due": format_value(totals["due"] or 0)}


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
        "sales_this_year": format_value(this_year["sales"] or 0),
        "payments_this_year": format_value(-(this_year["payments"] or 0)),
        "last_payment_date": format_value(last_payment),
    }


@codeunit(CUST_OPEN_INVOICES, "Cust. Open Invoices", "Number of open invoices of parameters['CustomerNo'].")
def customer_open_invoices(parameters):
    count = _ledger(parameters).filter(open=True, document_type="Invoice").aggregate(n=Count("entry_no"))["n"]
    return {"open_invoices": str(count)}
