"""The playground: a page on which anyone learns page background tasks by trying them.

It is bound to a customer, like the customer card, but enqueues nothing by itself:
the browser's form calls its ``enqueue`` action, which enqueues through the page's
own ``enqueue_background_task``, exactly as page code would, and its ``cancel``
action calls ``cancel_background_task``. Everything else the user sees is the
engine at work: the 5-running limit and the queue (S12, S13), timeouts (S9, S11),
error levels and handled errors (S26, S27), cancellation when the record changes
(S14, S17), the read-only child session (S18).

Actions (``page.action`` frames, docs/protocol.md)::

    {"action": "enqueue", "args": {"codeunit": 50100, "parameters": {"Wait": "3000"},
                                   "timeout": 1000, "error_level": "warning",
                                   "count": 1, "handled": false}}
    {"action": "cancel", "args": {"task_id": 7}}

What the page did is published in two fields: ``last_call`` (the Python call the
page made, for people) and ``report`` (JSON, for the browser script: the last few
events, each with a ``seq``, so that the script applies each event once).

Access: ``BCPAGES["PLAYGROUND"]`` is "on" (everyone), "staff" (staff users only)
or "off" (the page does not exist); see ``check_access``.
"""

import json
from collections import deque

from bcpages.demo import codeunits as cu
from bcpages.demo.models import Customer
from bcpages.fields import Field
from bcpages.pages import CardPage, PageNotAllowed, UnknownRecord, action
from tasks import conf
from tasks.codeunits import check_enabled, registered_codeunits
from tasks.errors import PageBackgroundTaskError
from tasks.values import ERROR_LEVELS

#: The parameter the page fills from its current record (unless the form sets it).
RECORD_PARAMETER = "CustomerNo"
#: How many events ``report`` keeps: more than any one frame can bring.
REPORT_EVENTS = 8
#: Result values are shortened to this many characters in ``report``.
REPORT_VALUE_CHARS = 160
REPORT_KEYS = 12
INVALID_ACTION_ARGS = "InvalidActionArguments"

#: What the form proposes for a codeunit: its parameters and a timeout that shows
#: what the codeunit is for. Codeunits not listed start with no parameters.
SUGGESTIONS = {
    cu.PBT_WAIT: {"parameters": {"Wait": "3000"}, "timeout": 10_000},
    cu.PLAYGROUND_BUSY_LOOP: {"parameters": {"Duration": "5000"}, "timeout": 2_000},
    cu.PLAYGROUND_LONG_QUERY: {"parameters": {"Count": "10000000"}, "timeout": 30_000},
    cu.PLAYGROUND_CUSTOMER_BLOCKED: {"parameters": {}, "timeout": 10_000},
    cu.PLAYGROUND_RENAME_CUSTOMER: {"parameters": {}, "timeout": 10_000},
    cu.PLAYGROUND_NON_STRING_RESULT: {"parameters": {}, "timeout": 10_000},
    cu.PLAYGROUND_KILL_OWN_PROCESS: {"parameters": {}, "timeout": 10_000},
    cu.PLAYGROUND_ECHO_CUSTOMER: {"parameters": {"Wait": "2000"}, "timeout": 10_000},
}
#: The teaching codeunits first in the form, then every other enabled codeunit.
FIRST = list(SUGGESTIONS)


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _short(results):
    """Results as the report carries them: a few keys, values cut to a readable length."""
    shown = {}
    for key in list(results)[:REPORT_KEYS]:
        value = results[key]
        shown[key] = value if len(value) <= REPORT_VALUE_CHARS else value[:REPORT_VALUE_CHARS] + "\u2026"
    return shown


class Playground(CardPage):
    """Try page background tasks on a customer: enqueue, cancel, navigate."""

    name = "playground"
    caption = "Playground"
    model = Customer
    url_name = "playground"
    template = "bcpages/playground.html"

    no = Field("No.", source="no")
    customer_name = Field("Name", source="name")
    last_call = Field("Last call")
    report = Field("Report")

    # Access ---------------------------------------------------------------
    @classmethod
    def check_access(cls, user):
        setting = conf.get("PLAYGROUND")
        if setting == "off":
            raise PageNotAllowed("The playground is switched off (BCPAGES['PLAYGROUND'] is 'off').", hidden=True)
        if setting == "staff" and not (user is not None and user.is_active and user.is_staff):
            raise PageNotAllowed(
                "The playground is open to staff users only (BCPAGES['PLAYGROUND'] is 'staff'); "
                "log in to the admin as a staff user first."
            )

    # Records: "" is the first customer ---------------------------------------
    @classmethod
    def get_record(cls, key):
        if key == "":
            first = Customer.objects.order_by("no").first()
            if first is None:
                raise UnknownRecord("The playground needs a customer; there are none (load the demo data).")
            return first
        return super().get_record(key)

    # What the template shows -------------------------------------------------
    @classmethod
    def codeunit_choices(cls):
        """Every enabled codeunit, the teaching ones first: id, name, description and
        what the form proposes. A codeunit an administrator disabled is left out."""
        choices = []
        for unit in registered_codeunits():
            try:
                check_enabled(unit)
            except PageBackgroundTaskError:
                continue
            suggestion = SUGGESTIONS.get(unit.id, {"parameters": {}, "timeout": 10_000})
            choices.append({
                "id": unit.id,
                "name": unit.name,
                "description": unit.description,
                "parameters": suggestion["parameters"],
                "timeout": suggestion["timeout"],
            })
        choices.sort(key=lambda choice: (FIRST.index(choice["id"]) if choice["id"] in FIRST else len(FIRST), choice["id"]))
        return choices

    @classmethod
    def limits(cls):
        return {
            "max_running": conf.get("MAX_RUNNING"),
            "max_queued": conf.get("MAX_QUEUED"),
            "default_timeout_ms": conf.get("DEFAULT_TIMEOUT_MS"),
            "max_timeout_ms": conf.get("MAX_TIMEOUT_MS"),
            "record_parameter": RECORD_PARAMETER,
            "error_levels": list(ERROR_LEVELS),
        }

    @classmethod
    def client_data(cls):
        """What playground.js needs, rendered into the page with ``json_script``."""
        return {"codeunits": cls.codeunit_choices(), "limits": cls.limits()}

    # Triggers --------------------------------------------------------------
    def on_open_page(self):
        self.handled_tasks = set()
        self._seq = 0
        self._events = deque(maxlen=REPORT_EVENTS)

    def on_page_background_task_completed(self, task_id, results):
        # S17: this runs only while the page still shows the task's record.
        self._report("completed", task_id=task_id, record=self.rec.no, results=_short(results))

    def on_page_background_task_error(self, task_id, error):
        handled = task_id in self.handled_tasks
        self._report("failed", task_id=task_id, record=self.rec.no, handled=handled)
        return handled  # S27: True, and the framework shows nothing

    # Actions ---------------------------------------------------------------
    @action("Enqueue")
    def enqueue(self, codeunit, parameters=None, timeout=None, error_level="error", count=1, handled=False):
        """Enqueue ``count`` copies of ``codeunit``, one by one, as page code would.

        ``parameters`` get ``CustomerNo`` from the current record unless they set it.
        The engine checks the rest (S7): an unknown codeunit, parameters that are not
        ``dict[str, str]``, a timeout that is not a positive whole number, an unknown
        error level, a full queue. The first refusal stops the loop; what was
        enqueued before it stays queued or running.
        """
        if not _whole(codeunit):
            return self._refuse(INVALID_ACTION_ARGS, f"codeunit must be a codeunit id (a whole number such as 50100), not {codeunit!r}.")
        if not _whole(count) or count < 1:
            return self._refuse(INVALID_ACTION_ARGS, f"count must be a whole number of copies, 1 or more, not {count!r}.")
        if not isinstance(handled, bool):
            return self._refuse(INVALID_ACTION_ARGS, f"handled must be true or false, not {handled!r}.")
        if parameters is None or isinstance(parameters, dict):
            parameters = dict(parameters or {})
            parameters.setdefault(RECORD_PARAMETER, self.rec.no)
        task_ids, refused = [], None
        for copy in range(1, count + 1):
            try:
                task_ids.append(self.enqueue_background_task(codeunit, parameters, timeout, error_level))
            except PageBackgroundTaskError as exc:
                refused = {"copy": copy, "code": exc.code, "text": exc.text}
                break
        if handled:
            self.handled_tasks.update(task_ids)
        self.last_call = self._describe_enqueue(codeunit, parameters, timeout, error_level, count, task_ids, refused)
        self._report(
            "enqueued", codeunit=codeunit, parameters=parameters, timeout=timeout, error_level=error_level,
            count=count, handled=handled, task_ids=task_ids, refused=refused,
        )
        if refused is not None:
            self.notify(self._refusal_text(count, task_ids, refused), level="error")

    @action("Cancel")
    def cancel(self, task_id):
        """Cancel task ``task_id``; the report says what ``cancel_background_task`` returned (S8)."""
        if not _whole(task_id):
            return self._refuse(INVALID_ACTION_ARGS, f"task_id must be a task id (a whole number), not {task_id!r}.")
        returned = self.cancel_background_task(task_id)
        self.last_call = f"cancel_background_task({task_id!r}) returned {returned}"
        self._report("cancel", task_id=task_id, returned=returned)

    # Internals -------------------------------------------------------------
    def _report(self, event, **details):
        self._seq += 1
        self._events.append({"seq": self._seq, "event": event, **details})
        self.report = json.dumps(list(self._events), separators=(",", ":"), default=repr)

    def _refuse(self, code, text):
        self.last_call = f"{code}: {text}"
        self._report("refused", code=code, text=text)
        self.notify(f"{code}: {text}", level="error")

    @staticmethod
    def _refusal_text(count, task_ids, refused):
        code, text = refused["code"], refused["text"]
        if not task_ids:
            return f"{code}: nothing was enqueued. {text}"
        return (
            f"{code}: copy {refused['copy']} of {count} was refused; the {len(task_ids)} copies before it "
            f"are enqueued (tasks {task_ids[0]}-{task_ids[-1]}). {text}"
        )

    @staticmethod
    def _describe_enqueue(codeunit, parameters, timeout, error_level, count, task_ids, refused):
        call = f"enqueue_background_task({codeunit!r}, {parameters!r}, timeout={timeout!r}, error_level={error_level!r})"
        if count != 1:
            call += f" \u00d7 {count}"
        if task_ids:
            ids = str(task_ids[0]) if len(task_ids) == 1 else f"{task_ids[0]}-{task_ids[-1]}"
            call += f" \u2192 task {ids}" if len(task_ids) == 1 else f" \u2192 tasks {ids}"
        if refused is not None:
            call += f"; copy {refused['copy']} raised {refused['code']}"
        return call
