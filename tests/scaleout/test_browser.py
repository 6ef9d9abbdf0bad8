"""Issue "scale out": the customer card in a real browser against the scaled-out
deployment (docs/deployment.md): two Daphne processes and two ``manage.py
runworker bcpages.tasks`` processes over Redis and PostgreSQL, as
tests/scaleout/conftest.py starts them, with the data of tests/factories.py.

The flow of tests/browser/test_customer_card.py, with one page on each Daphne
process: the tasks run on whichever worker has a free child session, and their
outcomes come back through Redis to the Daphne process of their page.

Playwright's sync API leaves its event loop marked as running in this thread
while it is started, so every test here is sync and Chromium lives for this
module only (the async tests of this folder run after it, without it).
"""

import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bcpages.demo.codeunits import PBT_WAIT
from tests.browser.helpers import (
    STATISTICS_FIELDS, TASK_FIELDS, WAIT_FIELDS, WAIT_NOTIFICATION, field, field_history, notification,
)
from tests.browser import helpers as browser_helpers
from tests.browser.live_server import chromium
from tests.scaleout.cluster import RedisServer, wait_until

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]

VIEWPORT = {"width": 1280, "height": 800}
FIELD_HISTORY_JS = Path(__file__).resolve().parents[1] / "browser" / "field_history.js"
# A layer round trip through Redis and a runworker process costs about four times
# the embedded one (CHANNELS-NOTES.md), and test machines are shared: a generous
# deadline, which costs nothing when the page is quick (expectations return as
# soon as they hold).
DEADLINE_MS = 20_000
PBT_WAIT_STARTED = re.compile(rf" task_started session=(\S+) task_id=\d+ codeunit={PBT_WAIT}\b")


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def open_tab(browser):
    """``open_tab(daphne)``: a new tab (its own browser context) on that Daphne
    process; every tab fails the test on an uncaught script error."""
    contexts, errors = [], []

    def open_tab(daphne):
        context = browser.new_context(base_url=daphne.url, viewport=VIEWPORT)
        # Records every value and state each field shows (see field_history.js).
        context.add_init_script(path=str(FIELD_HISTORY_JS))
        contexts.append(context)
        tab = context.new_page()
        tab.on("pageerror", lambda error: errors.append(error))
        return tab

    yield open_tab
    for context in contexts:
        context.close()
    assert not errors, f"script errors in the page: {errors}"


def expected_statistics(database_url, customer_no):
    """Balance (LCY) and Open Invoices of ``customer_no`` as the page formats them,
    read from the deployment's PostgreSQL database with SQL: an oracle
    independent of the codeunits under test (the SQLite twin is
    tests/browser/ledger.py)."""
    import psycopg

    with psycopg.connect(database_url, connect_timeout=10) as connection:
        open_entries = connection.execute(
            "SELECT document_type, remaining_amount FROM demo_custledgerentry WHERE customer_id = %s AND open",
            [customer_no],
        ).fetchall()
    balance = sum((remaining for _, remaining in open_entries), Decimal(0))
    open_invoices = sum(1 for kind, _ in open_entries if kind == "Invoice")
    return {"balance": f"{balance:,.2f}", "open_invoices": str(open_invoices)}


def open_card(tab, no):
    browser_helpers.open_card(tab, no, DEADLINE_MS)


def wait_until_filled(tab, names=TASK_FIELDS):
    browser_helpers.wait_until_filled(tab, names, DEADLINE_MS)


def pbt_waits_started(cluster, marks):
    """Session ids of the PBT Wait tasks the workers started since ``marks``."""
    sessions = []
    for worker, mark in zip(cluster.workers, marks):
        with worker.output.changed:
            lines = worker.output.lines[mark:]
        sessions += [match.group(1) for match in map(PBT_WAIT_STARTED.search, lines) if match]
    return sessions


def test_a_card_on_each_daphne_process_shows_loading_then_the_ledger_totals(cluster, open_tab):  # S33
    expected = expected_statistics(cluster.database_url, "10000")
    # The oracle itself, from tests/factories.py: 10000's open entries are the
    # invoices of 250.50 and 100.00.
    assert expected == {"balance": "350.50", "open_invoices": "2"}
    marks = [len(worker.output) for worker in cluster.workers]
    tabs = [open_tab(daphne) for daphne in cluster.daphnes]

    for tab in tabs:
        tab.goto("/customers/10000/")

    for tab in tabs:
        # The record's own fields are in the HTML; the task fields start loading.
        expect(field(tab, "customer_name")).to_have_text("Adatum Corporation")
        assert field_history(tab, "customer_name")[0] == ["10000", "ok", "Adatum Corporation", False]
        for name in TASK_FIELDS:
            assert field_history(tab, name)[0] == ["10000", "loading", "", False], name
    for tab in tabs:
        wait_until_filled(tab)
        expect(field(tab, "balance")).to_have_text(expected["balance"])
        expect(field(tab, "open_invoices")).to_have_text(expected["open_invoices"])
        expect(field(tab, "duration")).to_have_text("1000 ms")
        expect(field(tab, "start_time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$"))
        expect(notification(tab, "info", WAIT_NOTIFICATION)).to_have_count(1)
        expect(tab.locator('[data-state="failed"]')).to_have_count(0)
    # Both PBT Waits ran in runworker processes, one for each page's parent
    # session (the log line comes before the result, but through a pipe: poll it).
    wait_until(lambda: len(pbt_waits_started(cluster, marks)) >= 2, 10, message="both PBT Waits in the workers' logs")
    sessions = pbt_waits_started(cluster, marks)
    assert len(sessions) == len(set(sessions)) == 2, sessions


def test_next_twice_quickly_on_each_daphne_process_ends_on_the_last_customer_and_cancels_the_skipped_one(  # S14, S17
    cluster, open_tab,
):
    expected = expected_statistics(cluster.database_url, "30000")
    skipped_figures = expected_statistics(cluster.database_url, "20000")
    tabs = []
    for daphne in cluster.daphnes:
        tab = open_tab(daphne)
        open_card(tab, "10000")
        # Two clicks as close together as a user can make them, at once after
        # opening: 10000's PBT Wait (1 s) is still live too.
        tab.locator('[data-navigate="next"]').dblclick()
        tabs.append((daphne, tab))

    for daphne, tab in tabs:
        expect(tab).to_have_url(f"{daphne.url}/customers/30000/", timeout=DEADLINE_MS)
        expect(tab.locator("body")).to_have_attribute("data-record", "30000")
        expect(field(tab, "customer_name")).to_have_text("School of Fine Art")
        wait_until_filled(tab)
        # 30000 has no ledger entries.
        expect(field(tab, "balance")).to_have_text(expected["balance"])
        expect(field(tab, "open_invoices")).to_have_text(expected["open_invoices"])
        # Only 30000's PBT Wait completed: 10000's and 20000's were cancelled on the way.
        expect(notification(tab, "info", WAIT_NOTIFICATION)).to_have_count(1)

        # The skipped record's PBT Wait was surely live at the second click, so it
        # was cancelled (S14), on whichever worker had it; a statistics task of a
        # few milliseconds may have finished in the moment 20000 was current.
        skipped = tab.locator('[data-task-record="20000"]')
        expect(skipped).to_have_count(4)
        expect(skipped.locator(f"xpath=self::*[@data-codeunit='{PBT_WAIT}']")).to_have_attribute(
            "data-task-state", "cancelled", timeout=DEADLINE_MS
        )
        for row in skipped.all():
            expect(row).to_have_attribute("data-task-state", re.compile(r"^(cancelled|completed)$"))
            expect(row).to_have_attribute("data-previous", "")

        history = field_history(tab)
        for name in WAIT_FIELDS:
            # 20000 was on screen for a moment, but its cancelled PBT Wait never reached it.
            assert all(value == "" for record, _, value, _ in history[name] if record == "20000"), history[name]
        for name, right in skipped_figures.items():
            # Whatever 20000 showed of its statistics was 20000's own figure (S17).
            shown = {value for record, _, value, _ in history[name] if record == "20000"} - {""}
            assert shown <= {right}, (name, history[name])
        for name, entries in history.items():
            # Once the page showed 30000, each field showed nothing but 30000's value
            # (or the empty loading placeholder): never a value left over from 20000.
            final = entries[-1][2]
            shown = {value for record, _, value, _ in entries if record == "30000"}
            assert shown <= {final, ""}, (name, entries)


def test_the_statistics_factbox_on_each_daphne_process_fills_in_for_every_customer(cluster, open_tab):  # S33
    """Every customer's figures, whichever worker computed them, are its own ledger's."""
    for daphne, no in zip(cluster.daphnes * 2, ("10000", "20000", "30000")):
        expected = expected_statistics(cluster.database_url, no)
        tab = open_tab(daphne)
        tab.goto(f"/customers/{no}/")
        wait_until_filled(tab, STATISTICS_FIELDS)
        expect(field(tab, "balance")).to_have_text(expected["balance"])
        expect(field(tab, "open_invoices")).to_have_text(expected["open_invoices"])


def test_an_open_card_reports_a_redis_restart_and_works_again_without_a_reload(deployment, open_tab):  # S25
    """Redis stops while the card's PBT Wait runs on a worker: the open card says
    so (the connection indicator, an error notification: its tasks were lost),
    and once Redis is back the same tab reconnects by itself and the page works
    again, on the same Daphne and worker processes."""
    from bcpages.consumer import LAYER_LOST_TEXT

    redis = RedisServer()
    outage = deployment.sibling(redis.url)
    try:
        (daphne,), (worker,) = outage.start(daphnes=1, workers=1)
        tab = open_tab(daphne)
        mark = len(worker.output)
        open_card(tab, "10000")
        # The card's 1 s PBT Wait is running on the worker when Redis goes away.
        worker.output.wait_for(PBT_WAIT_STARTED, DEADLINE_MS / 1000, mark)

        redis.stop()

        expect(notification(tab, "error", LAYER_LOST_TEXT).first).to_be_visible(timeout=DEADLINE_MS)
        expect(tab.locator("body")).to_have_attribute("data-connected", "false", timeout=DEADLINE_MS)
        expect(field(tab, "customer_name")).to_have_text("Adatum Corporation")  # the page stays on screen

        redis = redis.restart()

        # The client's backoff (at most 15 s between attempts) brings it back.
        expect(tab.locator("body")).to_have_attribute("data-connected", "true", timeout=30_000)
        wait_until_filled(tab)
        tab.locator('[data-navigate="next"]').click()
        expect(tab).to_have_url(f"{daphne.url}/customers/20000/", timeout=DEADLINE_MS)
        expect(field(tab, "customer_name")).to_have_text("Trey Research")
        wait_until_filled(tab)
        expect(field(tab, "balance")).to_have_text(expected_statistics(outage.database_url, "20000")["balance"])
        assert daphne.alive() and worker.alive()  # neither was restarted
    finally:
        outage.close()
        redis.stop()
