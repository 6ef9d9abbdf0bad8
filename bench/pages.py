"""Pages the benchmarks drive (registered only in the bench server)."""

from bcpages.demo import codeunits as cu
from bcpages.demo.pages import CustomerCard
from bcpages.fields import Field
from bcpages.pages import RoleCenterPage, action
from tasks import catalogue


class NoopPage(RoleCenterPage):
    """One no-op task per ``run`` action; its completion sets ``count``."""

    name = "bench-noop"
    count = Field("Count", codeunit=catalogue.NOOP)

    def on_open_page(self):
        self.runs = 0

    @action()
    def run(self):
        self.enqueue_background_task(catalogue.NOOP)

    def on_page_background_task_completed(self, task_id, results):
        self.runs += 1
        self.count = self.runs


class BusyLoopPage(NoopPage):
    """One busy-loop task (``ms`` milliseconds of CPU in a child session) per
    ``run``; its completion sets ``count`` (scenario 6: CPU-bound codeunits)."""

    name = "bench-busy-loop"
    count = Field("Count", codeunit=catalogue.BUSY_LOOP)

    @action()
    def run(self, ms="100"):
        self.enqueue_background_task(catalogue.BUSY_LOOP, {"ms": ms})


class CardWithSlowTasks(CustomerCard):
    """The customer card, its four tasks taking 2 s each (scenario "page open")."""

    name = "bench-card-slow"
    url_name = None

    def on_after_get_curr_record(self):
        self.wait_task = self.enqueue_background_task(cu.PBT_WAIT, {"Wait": "2000"}, timeout=10_000)
        self.statistics_tasks = {}
        for codeunit_id in (cu.PBT_WAIT, cu.PBT_WAIT, cu.PBT_WAIT):
            self.enqueue_background_task(codeunit_id, {"Wait": "2000"}, timeout=10_000)


class CardWithoutTasks(CustomerCard):
    name = "bench-card-plain"
    url_name = None

    def on_after_get_curr_record(self):
        self.wait_task, self.statistics_tasks = None, {}


# Scenario 4: the codeunits a navigation cancels. Each runs for minutes unless it
# is stopped: a busy loop (CPU in Python), a sleep, a long SQL query (CPU in the
# database engine; SQLite's runs in the child process itself).
CANCELLED_CODEUNITS = {
    "busy loop": (catalogue.BUSY_LOOP, {}),
    "sleep": (catalogue.SLEEP_MS, {"ms": "600000"}),
    "long query": (catalogue.LONG_QUERY, {}),
}


class CardWithCancelledTask(CardWithoutTasks):
    """The customer card without tasks of its own; ``start`` enqueues one of
    ``CANCELLED_CODEUNITS``, which navigating to another record cancels (S14)."""

    name = "bench-cancel"

    @action()
    def start(self, kind):
        codeunit_id, parameters = CANCELLED_CODEUNITS[kind]
        self.enqueue_background_task(codeunit_id, parameters, timeout=60_000)
