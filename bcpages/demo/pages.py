"""The demo's pages: the customer card of Business Central's documented example,
with a Customer Statistics FactBox filled by background tasks."""

from bcpages.demo import codeunits as cu
from bcpages.demo.models import Customer
from bcpages.fields import Field
from bcpages.pages import CardPage, ListPage, RoleCenterPage, action

STATISTICS = "Customer Statistics"
WAIT = "Background task"


class CustomerCard(CardPage):
    name = "customer-card"
    caption = "Customer Card"
    model = Customer
    url_name = "customer-card"
    template = "bcpages/customer_card.html"

    no = Field("No.", source="no", part="General")
    customer_name = Field("Name", source="name", part="General")
    address = Field("Address", source="address", part="Address & Contact")
    city = Field("City", source="city", part="Address & Contact")
    post_code = Field("Post Code", source="post_code", part="Address & Contact")
    country = Field("Country/Region Code", source="country_region_code", part="Address & Contact")
    contact = Field("Contact", source="contact", part="Address & Contact")
    payment_terms = Field("Payment Terms Code", source="payment_terms_code", part="Invoicing")
    # Business Central's documented example: codeunit 50100 "PBT Wait".
    start_time = Field("Start Time", codeunit=cu.PBT_WAIT, part=WAIT)
    duration = Field("Duration", codeunit=cu.PBT_WAIT, part=WAIT)
    end_time = Field("End Time", codeunit=cu.PBT_WAIT, part=WAIT)
    # The Customer Statistics FactBox.
    balance = Field("Balance (LCY)", codeunit=cu.CUST_BALANCE, part=STATISTICS)
    balance_due = Field("Balance Due (LCY)", codeunit=cu.CUST_BALANCE, part=STATISTICS)
    sales_this_year = Field("Sales This Year", codeunit=cu.CUST_SALES_PAYMENTS, part=STATISTICS)
    payments_this_year = Field("Payments This Year", codeunit=cu.CUST_SALES_PAYMENTS, part=STATISTICS)
    last_payment_date = Field("Last Payment Date", codeunit=cu.CUST_SALES_PAYMENTS, part=STATISTICS)
    open_invoices = Field("Open Invoices", codeunit=cu.CUST_OPEN_INVOICES, part=STATISTICS)

    def on_after_get_curr_record(self):
        self.wait_task = self.enqueue_background_task(cu.PBT_WAIT, {"Wait": "1000"}, timeout=10_000, error_level="warning")
        self.enqueue_statistics()

    def enqueue_statistics(self):
        customer = {"CustomerNo": self.rec.no}
        self.statistics_tasks = {
            self.enqueue_background_task(cu.CUST_BALANCE, customer, timeout=30_000): cu.CUST_BALANCE,
            self.enqueue_background_task(cu.CUST_SALES_PAYMENTS, customer, timeout=30_000): cu.CUST_SALES_PAYMENTS,
            self.enqueue_background_task(cu.CUST_OPEN_INVOICES, customer, timeout=30_000): cu.CUST_OPEN_INVOICES,
        }

    def on_page_background_task_completed(self, task_id, results):
        if task_id == self.wait_task:
            self.start_time = results["started"]
            self.duration = f"{results['waited']} ms"
            self.end_time = results["finished"]
            self.notify("Start and finish times have been updated.")
        elif task_id in self.statistics_tasks:
            for key, value in results.items():
                if key in self.fields:
                    setattr(self, key, value)

    @action("Refresh statistics")
    def refresh_statistics(self):
        self.enqueue_statistics()


class RoleCenter(RoleCenterPage):
    """The Order Processor's role center: cues, each computed by its own task.

    Seven tasks start when it opens: five run, two wait (S12), as the task panel
    shows. "Sales Today" refreshes itself every few seconds by re-enqueueing from
    its completed trigger, holding at most one task at a time.
    """

    name = "role-center"
    caption = "Order Processor Role Center"
    url_name = "role-center"
    template = "bcpages/role_center.html"
    #: Milliseconds between two refreshes of the live cue.
    live_refresh_ms = 3_000

    sales_this_month = Field("Sales This Month", codeunit=cu.CUE_SALES_THIS_MONTH, part="Sales")
    overdue_amount = Field("Overdue Sales Invoice Amount", codeunit=cu.CUE_OVERDUE_AMOUNT, part="Sales")
    open_invoices = Field("Open Sales Invoices", codeunit=cu.CUE_OPEN_INVOICES, part="Sales")
    payments_this_month = Field("Payments This Month", codeunit=cu.CUE_PAYMENTS_THIS_MONTH, part="Payments")
    average_collection_days = Field("Average Collection Days", codeunit=cu.CUE_AVERAGE_COLLECTION_DAYS, part="Payments")
    top_customer = Field("Top Customer This Year", codeunit=cu.CUE_TOP_CUSTOMER, part="Customers")
    sales_today = Field("Sales Today (live)", codeunit=cu.CUE_SALES_TODAY_LIVE, part="Live")
    sales_today_as_of = Field("Sales Today as of", part="Live")

    CUES = {
        cu.CUE_SALES_THIS_MONTH: "sales_this_month",
        cu.CUE_OVERDUE_AMOUNT: "overdue_amount",
        cu.CUE_OPEN_INVOICES: "open_invoices",
        cu.CUE_PAYMENTS_THIS_MONTH: "payments_this_month",
        cu.CUE_AVERAGE_COLLECTION_DAYS: "average_collection_days",
        cu.CUE_TOP_CUSTOMER: "top_customer",
    }

    def on_after_get_curr_record(self):
        if getattr(self, "live_task", None):
            self.cancel_background_task(self.live_task)  # a refresh restarts the chain
        self.cue_tasks = {self.enqueue_background_task(codeunit_id, timeout=60_000): field for codeunit_id, field in self.CUES.items()}
        self.enqueue_live_cue(delay_ms=0)

    def enqueue_live_cue(self, delay_ms):
        # One live task at a time: a new one only once the last one has ended.
        self.live_task = self.enqueue_background_task(
            cu.CUE_SALES_TODAY_LIVE, {"Delay": str(delay_ms)}, timeout=delay_ms + 30_000, error_level="ignore"
        )

    def on_page_background_task_completed(self, task_id, results):
        if task_id in self.cue_tasks:
            setattr(self, self.cue_tasks[task_id], results["value"])
        elif task_id == self.live_task:
            self.sales_today = results["value"]
            self.sales_today_as_of = results["as_of"]
            self.enqueue_live_cue(self.live_refresh_ms)

    def on_page_background_task_error(self, task_id, error):
        if task_id == self.live_task:
            self.enqueue_live_cue(self.live_refresh_ms)  # keep refreshing after a failure
        return False


class CustomerList(ListPage):
    """The customer list; its current record is the selected row."""

    name = "customer-list"
    caption = "Customers"
    model = Customer
    url_name = "customer-list"
    template = "bcpages/customer_list.html"

    no = Field("No.", source="no")
    customer_name = Field("Name", source="name")
    city = Field("City", source="city")


from bcpages.demo import playground  # noqa: E402,F401  (registers the playground page)
