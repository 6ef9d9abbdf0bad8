"""Pages used by the tests: a probe that records every trigger call."""

from bcpages.demo.models import Customer
from bcpages.fields import Field
from bcpages.pages import CardPage, RoleCenterPage, action
from tasks import catalogue


class ProbePage(CardPage):
    """Enqueues what the test asks for, and records what its triggers saw."""

    name = "test-probe"
    model = Customer

    customer_name = Field("Name", source="name")
    echo = Field("Echo", codeunit=catalogue.ECHO_PARAMETERS)
    slept = Field("Slept", codeunit=catalogue.SLEEP_MS)
    note = Field("Note")

    #: Class-level plan: what on_after_get_curr_record enqueues (list of kwargs).
    plan = []
    handle_errors = False

    def on_open_page(self):
        self.completed, self.errors, self.trigger_records, self.enqueued = [], [], [], []

    def on_after_get_curr_record(self):
        for kwargs in self.plan:
            self.enqueued.append(self.enqueue_background_task(**kwargs))

    def on_page_background_task_completed(self, task_id, results):
        self.completed.append((task_id, results))
        self.trigger_records.append(self.rec.no)
        if "Echo" in results:
            self.echo = results["Echo"]
        if "slept" in results:
            self.slept = results["slept"]

    def on_page_background_task_error(self, task_id, error):
        self.errors.append((task_id, error))
        return self.handle_errors

    @action()
    def enqueue(self, codeunit, parameters=None, timeout=None, error_level="error"):
        self.enqueued.append(self.enqueue_background_task(codeunit, parameters, timeout, error_level))

    @action()
    def try_enqueue(self, codeunit, parameters=None, timeout=None):
        self.enqueued.append(self.try_enqueue_background_task(codeunit, parameters, timeout))

    @action()
    def cancel(self, task_id):
        self.cancel_results = getattr(self, "cancel_results", []) + [self.cancel_background_task(task_id)]

    @action()
    def show_message(self, text):
        self.message(text)


class DialogFromTriggerPage(ProbePage):
    """Asks for a dialog from its completion trigger (S31)."""

    name = "test-dialog-from-trigger"
    plan = [{"codeunit_id": catalogue.NOOP}]

    def on_page_background_task_completed(self, task_id, results):
        self.message("Done!")


class FailingTriggerPage(ProbePage):
    """Its completion trigger raises (S29)."""

    name = "test-failing-trigger"
    plan = [{"codeunit_id": catalogue.NOOP}, {"codeunit_id": catalogue.ECHO_PARAMETERS, "parameters": {"Echo": "after"}}]

    def on_page_background_task_completed(self, task_id, results):
        if task_id == self.enqueued[0]:
            raise RuntimeError("trigger blew up")
        super().on_page_background_task_completed(task_id, results)


class NoRecordPage(RoleCenterPage):
    name = "test-no-record"
    cue = Field("Cue", codeunit=catalogue.ECHO_PARAMETERS)

    def on_after_get_curr_record(self):
        self.enqueue_background_task(catalogue.ECHO_PARAMETERS, {"Echo": "42"})

    def on_page_background_task_completed(self, task_id, results):
        self.cue = results["Echo"]


class SerialTriggersPage(ProbePage):
    """Records when each trigger runs, to show that none overlaps another (S3)."""

    name = "test-serial-triggers"
    plan = [{"codeunit_id": catalogue.NOOP}] * 5
    spans = []  # (trigger, start, end), shared with the test

    def _timed(self, name, function, *args):
        import time

        from bcpages.demo.models import Customer

        start = time.monotonic()
        result = function(*args)
        Customer.objects.filter(no=self.rec.no).count()  # real database work inside the trigger
        SerialTriggersPage.spans.append((name, start, time.monotonic()))
        return result

    def on_after_get_curr_record(self):
        self._timed("after_get", super().on_after_get_curr_record)

    def on_page_background_task_completed(self, task_id, results):
        self._timed("completed", super().on_page_background_task_completed, task_id, results)
