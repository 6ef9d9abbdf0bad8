"""Page fields: the values a page shows, each a string as the user sees it.

A field is a descriptor on a page class. Reading it gives its current value;
assigning it from page code (a trigger, an action) changes it, and the framework
sends the change to the browser::

    class CustomerCard(CardPage):
        name_ = Field("Name", source="name")              # from the record, at once
        balance = Field("Balance", codeunit=50110)         # filled by a background task
        start_time = Field("Start Time", codeunit=50100)
"""

import datetime
import decimal

LOADING = "loading"
OK = "ok"
FAILED = "failed"


def format_value(value):
    """Turn a Python value into the string a user sees."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float):
        # SQLite sums decimals as floats: 4.09e-12 must read 0.00, never -0.00.
        value = decimal.Decimal(repr(value)).quantize(decimal.Decimal("0.01"))
    if isinstance(value, decimal.Decimal):
        value = value.quantize(decimal.Decimal("0.01")) + 0  # + 0 drops a negative zero
        return f"{value:,.2f}"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


class Field:
    """One value of a page.

    caption:  the label shown to the user.
    source:   attribute of the current record to show (dotted for related objects);
              set at once when the record loads (S33).
    codeunit: id of the codeunit whose background task fills this field; the field
              shows ``loading`` while a task of that codeunit is live, then ``ok``,
              or ``failed`` when the task failed and the error trigger did not set it.
    part:     the part (FactBox, group) the field belongs to, for the templates.
    """

    def __init__(self, caption, *, source=None, codeunit=None, part=None):
        self.caption = caption
        self.source = source
        self.codeunit = codeunit
        self.part = part
        self.name = None

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, page, owner=None):
        if page is None:
            return self
        return page._values.get(self.name, "")

    def __set__(self, page, value):
        page._set_field(self.name, format_value(value))

    def read(self, record):
        """The value of ``source`` on ``record``, formatted."""
        value = record
        for part in self.source.split("."):
            value = getattr(value, part, None) if value is not None else None
        return format_value(value)

    def __repr__(self):
        return f"<Field {self.name} {self.caption!r}>"
