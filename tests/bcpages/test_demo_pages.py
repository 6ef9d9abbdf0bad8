"""The demo's pages through the test API: the customer card and the role center."""

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
    from bcpages.demo.pages import RoleCenter

    monkeypatch.setattr(RoleCenter, "live_refresh_ms", 1)
    page = TestPage.open("role-center")
    for _ in range(6):  # the six cues
        page.run_task()
    assert all(page.field_states[f] == "ok" for f in RoleCenter.CUES.values())
    generations = []
    for _ in range(3):
        [live] = [t for t in page.session.queue.live() if t.codeunit_id == cu.CUE_SALES_TODAY_LIVE]
        generations.append(page.run_task(live.task_id))
    assert generations == sorted(set(generations))
    assert len([t for t in page.session.queue.live() if t.codeunit_id == cu.CUE_SALES_TODAY_LIVE]) == 1
    assert page.fields["sales_today_as_of"]
