"""The JSON page API (S34): every task run synchronously before the response."""

import pytest

from tasks import catalogue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_customer_card_as_json_holds_the_final_statistics(client, customers):  # S34
    response = client.get("/api/pages/customer-card/10000/")
    assert response.status_code == 200
    body = response.json()
    assert body["page"] == "customer-card" and body["record"] == "10000"
    assert body["fields"]["customer_name"] == "Adatum Corporation"
    assert body["fields"]["balance"] == "350.50"
    assert body["fields"]["open_invoices"] == "2"
    assert body["fields"]["duration"] == "1000 ms"
    assert [t["state"] for t in body["tasks"]] == ["completed"] * 4
    assert set(body["tasks"][0]) == {"task_id", "codeunit", "state", "code", "text"}
    assert {"level": "info", "text": "Start and finish times have been updated."} in body["notifications"]


def test_the_json_api_and_the_test_api_agree(client, customers):  # S34, S35
    from tasks.testing import TestPage

    page = TestPage.open("customer-card", "20000")
    page.run_tasks()
    body = client.get("/api/pages/customer-card/20000/").json()
    statistics = ["balance", "balance_due", "sales_this_year", "payments_this_year", "last_payment_date", "open_invoices"]
    assert {k: body["fields"][k] for k in statistics} == {k: page.fields[k] for k in statistics}


def test_failures_show_in_tasks_and_notifications(client, customers, monkeypatch):  # S34, S27
    from tests.pages import ProbePage

    monkeypatch.setattr(ProbePage, "plan", [{"codeunit_id": catalogue.RAISES_VALUE_ERROR, "error_level": "warning"}])
    body = client.get("/api/pages/test-probe/10000/").json()
    assert body["tasks"] == [{"task_id": 1, "codeunit": catalogue.RAISES_VALUE_ERROR, "state": "failed", "code": "ValueError", "text": "bad value"}]
    assert body["notifications"] == [{"level": "warning", "text": "bad value"}]


def test_tasks_enqueued_by_triggers_are_not_chased(client, customers):  # S34
    body = client.get("/api/pages/role-center/").json()
    live = [t for t in body["tasks"] if t["codeunit"] == 50126]
    assert [t["state"] for t in live] == ["completed", "cancelled"]
    assert body["fields"]["sales_today_as_of"]
    # The response is final: no field is left loading by the task that was not chased.
    assert set(body["field_states"].values()) == {"ok"}, body["field_states"]


@pytest.mark.parametrize(
    "url, code",
    [
        ("/api/pages/nope/10000/", "UnknownPage"),
        ("/api/pages/customer-card/99999/", "UnknownRecord"),
        ("/api/pages/role-center/x/", "UnknownRecord"),  # a page without a record takes none
    ],
)
def test_unknown_page_or_record_is_a_json_404(client, customers, url, code):
    response = client.get(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["text"]


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_other_methods_than_get_are_a_json_405(client, customers, method):
    response = getattr(client, method)("/api/pages/customer-card/10000/")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert response.json() == {"error": {"code": "MethodNotAllowed", "text": f"The page API answers GET only, not {method.upper()}."}}
