"""The demo's pages: the customer card of Business Central's documented example,
with a Customer Statistics FactBox filled by background tasks."""

from bcpages.demo import codeunits as cu
from bcpages.demo.models import Customer
from bcpages.fields import Field
from bcpages.pages import CardPage, action

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
