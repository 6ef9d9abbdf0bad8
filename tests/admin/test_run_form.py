"""Running a codeunit from the admin: typed parameters, a timeout, a real child
session; the result or the error and the duration; clear errors for bad input."""

import pytest

from tasks import catalogue
from tasks.models import CodeunitSetting, TaskLogEntry

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

RUN_URL = "/admin/tasks/codeunitsetting/{}/run/"


def run_data(rows=(), timeout=""):
    data = {
        "parameter-TOTAL_FORMS": "4", "parameter-INITIAL_FORMS": "0",
        "parameter-MIN_NUM_FORMS": "0", "parameter-MAX_NUM_FORMS": "100",
        "timeout_ms": timeout,
    }
    for index, (key, value) in enumerate(rows):
        data[f"parameter-{index}-key"] = key
        data[f"parameter-{index}-value"] = value
    return data


def test_the_run_page_offers_key_value_rows_and_a_timeout(admin_client):
    response = admin_client.get(RUN_URL.format(catalogue.ECHO_PARAMETERS))
    assert response.status_code == 200
    assert 'name="parameter-0-key"' in response.text and 'name="timeout_ms"' in response.text
    change = admin_client.get(f"/admin/tasks/codeunitsetting/{catalogue.ECHO_PARAMETERS}/change/")
    assert RUN_URL.format(catalogue.ECHO_PARAMETERS) in change.text  # the "Run" button


def test_run_shows_the_result_dict_and_the_duration(admin_client):  # S35
    response = admin_client.post(RUN_URL.format(catalogue.ECHO_PARAMETERS), run_data([("CustomerNo", "10000"), ("Kind", " spaced ")]))
    assert response.status_code == 200
    outcome = response.context["outcome"]
    assert outcome.state == "completed"
    assert outcome.results == {"CustomerNo": "10000", "Kind": " spaced "}
    assert 'data-result="CustomerNo">10000<' in response.text
    assert "ms in the child session" in response.text
    assert response.context["run"].timeout_ms == 120_000
    # The rows stay filled in, to run it again.
    assert 'value="CustomerNo"' in response.text and 'value="10000"' in response.text


def test_run_shows_the_error_code_text_and_call_stack(admin_client):  # S23
    response = admin_client.post(RUN_URL.format(catalogue.RAISES_CODED_ERROR), run_data([("text", "Blocked for sales.")]))
    outcome = response.context["outcome"]
    assert (outcome.state, outcome.error.code, outcome.error.text) == ("failed", "CustomerBlocked", "Blocked for sales.")
    assert "data-error-code>CustomerBlocked<" in response.text
    assert "raises_coded_error" in response.text  # the call stack


def test_run_is_read_only_like_any_child_session(admin_client, customers):  # S18
    response = admin_client.post(RUN_URL.format(catalogue.ATTEMPTS_WRITE), run_data([("CustomerNo", "10000")]))
    assert response.context["outcome"].error.code == "ChildSessionReadOnly"


def test_run_honours_its_timeout(admin_client):  # S11
    response = admin_client.post(RUN_URL.format(catalogue.SLEEP_MS), run_data([("ms", "5000")], timeout="200"))
    outcome = response.context["outcome"]
    assert (outcome.state, outcome.error.code) == ("failed", "ChildSessionTaskTimeout")
    assert outcome.error.text == "Child Session task was terminated because of a timeout."


def test_run_is_recorded_in_the_task_log(admin_client, superuser):  # S36
    admin_client.post(RUN_URL.format(catalogue.RAISES_VALUE_ERROR), run_data())
    [row] = TaskLogEntry.objects.all()
    assert (row.page, row.username, row.codeunit_id, row.outcome, row.code) == ("admin", "admin", catalogue.RAISES_VALUE_ERROR, "failed", "ValueError")
    assert "raises_value_error" in row.call_stack


@pytest.mark.parametrize("timeout", ["abc", "1.5", "10s"])
def test_a_timeout_that_is_not_an_integer_is_a_form_error(admin_client, timeout):
    response = admin_client.post(RUN_URL.format(catalogue.NOOP), run_data(timeout=timeout))
    assert response.context["outcome"] is None
    assert response.context["form"].errors["timeout_ms"] == [
        f"Timeout {timeout!r} is not a whole number of milliseconds; write for example 10000 for ten seconds."
    ]
    assert TaskLogEntry.objects.count() == 0


def test_a_negative_timeout_is_a_form_error(admin_client):
    response = admin_client.post(RUN_URL.format(catalogue.NOOP), run_data(timeout="-5"))
    assert response.context["form"].errors["timeout_ms"] == ["Timeout -5 must be a positive number of milliseconds."]


def test_a_key_given_twice_is_a_form_error(admin_client):
    response = admin_client.post(RUN_URL.format(catalogue.ECHO_PARAMETERS), run_data([("CustomerNo", "1"), ("CustomerNo", "2")]))
    assert response.context["outcome"] is None
    assert response.context["parameters"].non_form_errors() == ["Parameter 'CustomerNo' is given twice; give each key once."]
    assert "given twice" in response.text


def test_a_value_without_a_key_is_a_form_error(admin_client):
    response = admin_client.post(RUN_URL.format(catalogue.ECHO_PARAMETERS), run_data([("", "orphan")]))
    assert response.context["outcome"] is None
    assert "has no key" in response.text


def test_a_missing_codeunit_cannot_run(admin_client):
    CodeunitSetting.objects.create(id=98767, name="Gone", implementation="gone.codeunits.gone")
    response = admin_client.post(RUN_URL.format(98767), run_data())
    assert response.context["outcome"] is None
    assert "missing from the code" in response.text


def test_a_disabled_codeunit_can_still_be_run_by_an_administrator(admin_client):
    CodeunitSetting.objects.filter(id=catalogue.NOOP).update(enabled=False)
    response = admin_client.post(RUN_URL.format(catalogue.NOOP), run_data())
    assert response.context["outcome"].state == "completed"
    assert "disabled for pages" in response.text


def test_staff_without_change_permission_cannot_run(client, staff):
    client.force_login(staff)
    assert client.get(RUN_URL.format(catalogue.NOOP)).status_code == 403
