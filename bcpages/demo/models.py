"""The demo company: Business Central's customers, items, sales documents and
customer ledger entries, with Business Central's field names in snake_case.

Posted sales invoices and payments land in the customer ledger, which is what the
Customer Statistics FactBox and the role center cues read.
"""

from django.db import models


class Customer(models.Model):
    no = models.CharField("No.", max_length=20, primary_key=True)
    name = models.CharField(max_length=100)
    address = models.CharField(max_length=100, blank=True)
    address_2 = models.CharField("Address 2", max_length=50, blank=True)
    post_code = models.CharField(max_length=20, blank=True)
    city = models.CharField(max_length=30, blank=True)
    county = models.CharField(max_length=30, blank=True)
    country_region_code = models.CharField("Country/Region Code", max_length=10, blank=True)
    contact = models.CharField(max_length=100, blank=True)
    email = models.CharField("E-mail", max_length=80, blank=True)
    currency_code = models.CharField(max_length=10, blank=True)
    payment_terms_code = models.CharField(max_length=10, blank=True)
    credit_limit_lcy = models.DecimalField("Credit Limit (LCY)", max_digits=18, decimal_places=2, default=0)
    salesperson_code = models.CharField(max_length=20, blank=True)
    customer_posting_group = models.CharField(max_length=20, blank=True)
    #: "contoso" (the modern demo company) or "cronus" (the classic one, numbers prefixed "C").
    source = models.CharField(max_length=10, default="contoso")

    class Meta:
        ordering = ["no"]

    def __str__(self):
        return f"{self.no} {self.name}"


class Item(models.Model):
    no = models.CharField("No.", max_length=20, primary_key=True)
    description = models.CharField(max_length=100)
    type = models.CharField(max_length=20, default="Inventory")
    base_unit_of_measure = models.CharField(max_length=10)
    unit_price = models.DecimalField(max_digits=18, decimal_places=2)
    unit_cost = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    item_category_code = models.CharField(max_length=20, blank=True)
    inventory_posting_group = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["no"]

    def __str__(self):
        return f"{self.no} {self.description}"


class SalesHeader(models.Model):
    """An open sales document: a quote, an order or an unposted invoice."""

    class DocumentType(models.TextChoices):
        QUOTE = "Quote"
        ORDER = "Order"
        INVOICE = "Invoice"

    document_type = models.CharField(max_length=10, choices=DocumentType.choices)
    no = models.CharField("No.", max_length=20)
    sell_to_customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="sales_documents")
    order_date = models.DateField(null=True)
    posting_date = models.DateField(null=True)
    due_date = models.DateField(null=True)
    your_reference = models.CharField(max_length=35, blank=True)
    payment_terms_code = models.CharField(max_length=10, blank=True)

    class Meta:
        unique_together = [("document_type", "no")]
        ordering = ["document_type", "no"]


class SalesLine(models.Model):
    document = models.ForeignKey(SalesHeader, on_delete=models.CASCADE, related_name="lines")
    line_no = models.IntegerField()
    type = models.CharField(max_length=10, default="Item")  # "Item" or " " (a comment line)
    item = models.ForeignKey(Item, on_delete=models.PROTECT, null=True, blank=True)
    description = models.CharField(max_length=100, blank=True)
    quantity = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    unit_price = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    line_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        unique_together = [("document", "line_no")]
        ordering = ["document", "line_no"]


class SalesInvoiceHeader(models.Model):
    """A posted sales invoice."""

    no = models.CharField("No.", max_length=20, primary_key=True)
    sell_to_customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="posted_invoices")
    posting_date = models.DateField()
    due_date = models.DateField()
    amount = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["sell_to_customer", "posting_date"])]


class SalesInvoiceLine(models.Model):
    document = models.ForeignKey(SalesInvoiceHeader, on_delete=models.CASCADE, related_name="lines")
    line_no = models.IntegerField()
    item = models.ForeignKey(Item, on_delete=models.PROTECT)
    description = models.CharField(max_length=100)
    quantity = models.DecimalField(max_digits=18, decimal_places=2)
    unit_price = models.DecimalField(max_digits=18, decimal_places=2)
    amount = models.DecimalField(max_digits=18, decimal_places=2)


class CustLedgerEntry(models.Model):
    """One invoice or payment in a customer's ledger (Business Central table 21).

    Invoices are positive, payments negative. ``remaining_amount`` is what is still
    open; an entry is closed (``open=False``) when nothing remains.
    """

    class DocumentType(models.TextChoices):
        INVOICE = "Invoice"
        PAYMENT = "Payment"

    entry_no = models.IntegerField("Entry No.", primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="ledger_entries")
    posting_date = models.DateField()
    document_type = models.CharField(max_length=10, choices=DocumentType.choices)
    document_no = models.CharField(max_length=20)
    description = models.CharField(max_length=100, blank=True)
    due_date = models.DateField()
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    remaining_amount = models.DecimalField(max_digits=18, decimal_places=2)
    open = models.BooleanField(default=True)

    class Meta:
        ordering = ["entry_no"]
        verbose_name_plural = "customer ledger entries"
        indexes = [
            models.Index(fields=["customer", "open", "due_date"]),
            models.Index(fields=["customer", "document_type", "posting_date"]),
            models.Index(fields=["posting_date"]),
        ]
