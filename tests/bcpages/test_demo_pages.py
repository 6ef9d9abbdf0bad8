"""The demo's pages through the test API: the customer card and the role center."""

import re
from decimal import Decimal

import pytest

from bcpages.demo import codeunits as cu
from tasks.testing import TestPage

pytestmark = pytest.mark.django_db(transaction=True)


def test_customer_card_fills_in_the_documented_example_and_the_statistics(customers):  # S32, S33
    page = TestPage.open("customer-card", "10000")
    assert page.fields["customer_name"] == "Adatum Corporation"
    assert {page.field_states[f] for f in ("start_time", "balance", "open_invoices")} == {"loading"}
    page.run_tasks()
    assert page.fields["duration"] == "1000 ms"
    assert page.fields["balance"] == "350.50"  # open remaining amounts of tests/factories.py
    assert page.fields["open_invoices"] == "2"
    assert ("info", "Start and finish times have been updated.") in page.notifications
    assert set(page.field_states.values()) == {"ok"}


def test_customer_card_refresh_keeps_the_last_values_while_loading(customers):  # S33
    page = TestPage.open("customer-card", "10000")
    page.run_tasks()
    page.action("refresh_statistics")
    assert (page.fields["balance"], page.field_states["balance"]) == ("350.50", "loading")
    page.run_tasks()
    assert page.field_states["balance"] == "ok"


def test_role_center_runs_five_cues_and_queues_the_rest(customers):  # S12, S32
    page = TestPage.open("role-center")
    states = [t.state for t in page.tasks]
    assert states == ["running"] * 5 + ["queued"] * 2


def test_role_center_live_cue_refreshes_itself_one_task_at_a_time(customers, monkeypatch):  # S30
    from django.db.models import Sum
    from django.utils import timezone

    from bcpages.demo.models import CustLedgerEntry
    from bcpages.demo.pages import RoleCenter

    monkeypatch.setattr(RoleCenter, "live_refresh_ms", 1)
    page = TestPage.open("role-center")
    for _ in range(6):  # the six cues
        page.run_task()
    assert all(page.field_states[f] == "ok" for f in RoleCenter.CUES.values())

    def live_tasks():
        return [t for t in page.session.queue.live() if t.codeunit_id == cu.CUE_SALES_TODAY_LIVE]

    today = timezone.localdate()
    posted = CustLedgerEntry.objects.filter(document_type="Invoice", posting_date=today).aggregate(s=Sum("amount"))["s"] or 0
    added = [Decimal(0), Decimal("120.00"), Decimal("30.50")]  # posted before each generation
    invoiced = [f"{posted + sum(added[: n + 1]):,.2f}" for n in range(len(added))]
    generations = []
    for generation, (amount, shown) in enumerate(zip(added, invoiced)):
        if amount:
            # Sales posted since the last refresh: the next refresh must show them.
            CustLedgerEntry.objects.create(
                entry_no=100 + generation, customer_id="20000", posting_date=today, document_type="Invoice",
                document_no=f"LIVE{generation}", due_date=today, amount=amount, remaining_amount=amount, open=True,
            )
        [live] = live_tasks()  # one at a time
        # The first asks for no delay; each refresh waits live_refresh_ms first.
        assert live.parameters == {"Delay": "0" if generation == 0 else "1"}
        generations.append(page.run_task(live.task_id))
        assert page.task(generations[-1]).state == "completed"
        assert page.fields["sales_today"] == shown, generation
        assert re.fullmatch(r"\d\d:\d\d:\d\d", page.fields["sales_today_as_of"])
        # Its completed trigger enqueued the next generation: a new task, the only live one.
        [following] = live_tasks()
        assert following.task_id not in generations
    # Each generation's field update came from its own task, in order.
    updates = [f["fields"]["sales_today"] for f in page.frames if f["type"] == "field.update" and "sales_today" in f["fields"]]
    assert updates == invoiced
