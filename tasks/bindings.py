"""Bindings: live fields without code.

An administrator binds a codeunit to a page (``tasks.models.CodeunitBinding``):
every time the page gets its current record, the parent session enqueues the
codeunit with parameters built from the record's fields, and the result keys the
binding names appear as extra fields in a FactBox of that page. The tasks go
through the page's own enqueue path (limits, cancellation on navigation, S17);
their outcomes go to the binding instead of the page's triggers, which do not
know these tasks.

A parameter template is a dict of strings in which ``{field}`` stands for the
current record's field (model field name, or its column for a foreign key) and
``{{`` / ``}}`` for literal braces; nothing else (no attribute access, no format
specs), so a template can only ever read the record's own field values::

    {"CustomerNo": "{no}", "Kind": "Invoice"}

The extra fields are named ``binding_<id>_<key>``; their part is the binding's
caption and their codeunit the binding's codeunit.
"""

import logging
import re
import string
from dataclasses import dataclass

from bcpages.fields import Field
from tasks import settings_cache
from tasks.errors import InvalidTaskParameters, PageBackgroundTaskError

logger = logging.getLogger("tasks")

#: A result key: letters, digits, "_", "." and "-" (it becomes part of a field name).
RESULT_KEY = re.compile(r"^[\w.-]+$")
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Binding:
    id: int
    page: str
    codeunit_id: int
    caption: str
    parameters: tuple  # ((key, template), ...)
    results: tuple  # ((result key, field caption), ...)
    timeout_ms: int | None = None
    error_level: str = ""

    @classmethod
    def from_row(cls, row):
        """The binding of a ``CodeunitBinding`` row; None (logged) when the row is
        invalid, which the admin form prevents but a raw edit might not."""
        try:
            results = parse_results(row.results)
            parameters = dict(row.parameters or {})
            for key, template in parameters.items():
                if not isinstance(key, str) or not isinstance(template, str):
                    raise ValueError(f"parameter {key!r} is not a string")
                template_fields(template)
        except (TypeError, ValueError) as exc:
            logger.error("binding_invalid binding=%s page=%s error=%s", row.pk, row.page, exc)
            return None
        return cls(row.pk, row.page, row.codeunit_id, row.caption, tuple(parameters.items()), tuple(results),
                   row.timeout_ms, row.error_level)

    def field_name(self, key):
        return field_name(self.id, key)

    def fields(self):
        """The extra page fields of this binding, by name."""
        made = {}
        for key, caption in self.results:
            field = Field(caption, codeunit=self.codeunit_id, part=self.caption)
            field.name = self.field_name(key)
            made[field.name] = field
        return made

    def parameters_for(self, record):
        """The task's parameters for ``record``: InvalidTaskParameters when the
        template names a field the record does not have."""
        try:
            return {key: render(template, record) for key, template in self.parameters}
        except (LookupError, AttributeError) as exc:
            raise InvalidTaskParameters(
                f"Binding {self.id} ({self.caption!r}) on page {self.page!r}: {exc.args[0] if exc.args else exc}"
            ) from None


def field_name(binding_id, key):
    return f"binding_{binding_id}_{key}"


def parse_results(text):
    """``[(key, caption), ...]`` from lines ``key: Caption``; ValueError naming the
    first bad line (no caption, a bad key, a key given twice)."""
    results, seen = [], set()
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        key, colon, caption = line.partition(":")
        key, caption = key.strip(), caption.strip()
        if not RESULT_KEY.match(key):
            raise ValueError(
                f"Line {number} ({line.strip()!r}): the result key {key!r} must be letters, digits, '_', '.' or '-'."
            )
        if not colon or not caption:
            raise ValueError(
                f"Line {number} ({line.strip()!r}): result key {key!r} has no caption; write it as '{key}: Caption'."
            )
        if key in seen:
            raise ValueError(f"Line {number}: result key {key!r} is given twice.")
        seen.add(key)
        results.append((key, caption))
    if not results:
        raise ValueError("Name at least one result key, one per line, as 'key: Caption'.")
    return results


def template_fields(template):
    """The record fields ``template`` names, in order; ValueError for anything but
    plain ``{field}`` placeholders."""
    names = []
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError(f"{template!r} is not a valid template ({exc}); write {{{{ and }}}} for literal braces.") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(
                f"{template!r}: {{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} is not a "
                f"plain field placeholder; write {{field}} with a field name of the record."
            )
        names.append(name)
    return names


def record_field_names(model):
    """The names a template may use for ``model``: field name -> attribute to read."""
    if model is None:
        return {}
    names = {}
    for field in model._meta.concrete_fields:
        names[field.name] = field.attname
        names[field.attname] = field.attname
    return names


def render(template, record):
    """``template`` with each ``{field}`` replaced by the record's value as a string."""
    parts = []
    allowed = record_field_names(type(record)) if record is not None else {}
    for literal, name, _, _ in _FORMATTER.parse(template):
        parts.append(literal)
        if name is None:
            continue
        if name not in allowed:
            what = "the page has no record" if record is None else f"{type(record).__name__} has no field {name!r}"
            raise LookupError(f"the parameter template {template!r} names {{{name}}}, but {what}.")
        value = getattr(record, allowed[name])
        parts.append("" if value is None else str(value))
    return "".join(parts)


def fields_for(page_name):
    """The extra fields of every enabled binding of ``page_name`` (for the HTML view)."""
    made = {}
    for binding in settings_cache.bindings_for(page_name):
        made.update(binding.fields())
    return made


class PageBindings:
    """The bindings of one open page, loaded once when the page opens.

    Used by the parent session: ``attach`` adds the fields to the page object,
    ``enqueue`` runs after ``on_after_get_curr_record``, ``take`` tells whether an
    ended task belongs to a binding, ``complete`` sets the binding's fields.
    """

    def __init__(self, bindings=()):
        self.bindings = tuple(bindings)
        self._tasks = {}  # task id -> Binding

    @classmethod
    def attach(cls, page):
        bindings = settings_cache.bindings_for(page.name)
        if bindings:
            # The page object's own dict: the class's ``fields`` stay as declared.
            page.fields = dict(page.fields)
            for binding in bindings:
                page.fields.update(binding.fields())
        return cls(bindings)

    def enqueue(self, session):
        """Enqueue each binding's task for the session's current record. A binding
        that cannot be enqueued (disabled codeunit, queue full) is reported at its
        error level, and the page goes on."""
        if not self.bindings:
            return
        live = {task.task_id for task in session.queue.live()}
        self._tasks = {task_id: b for task_id, b in self._tasks.items() if task_id in live}
        for binding in self.bindings:
            error_level = binding.error_level or settings_cache.DEFAULT_ERROR_LEVEL
            try:
                parameters = binding.parameters_for(session.page.rec)
                task_id = session.enqueue(session.page, binding.codeunit_id, parameters, binding.timeout_ms, error_level)
            except PageBackgroundTaskError as exc:
                _, level = settings_cache.apply_defaults(binding.codeunit_id, None, error_level)
                if level != "ignore":
                    session.notify(level, f"{binding.caption}: {exc.text}")
                continue
            self._tasks[task_id] = binding

    def binding_id(self, task_id):
        binding = self._tasks.get(task_id)
        return binding.id if binding is not None else None

    def take(self, task_id):
        """The binding whose task ``task_id`` is, forgetting the task; None for the page's own."""
        return self._tasks.pop(task_id, None)

    @staticmethod
    def complete(page, binding, results):
        """Show a completed task's results in the binding's fields."""
        for key, _ in binding.results:
            if key not in results:
                logger.warning("binding_result_missing binding=%s codeunit=%s key=%s", binding.id, binding.codeunit_id, key)
            page._set_field(binding.field_name(key), results.get(key, ""))
