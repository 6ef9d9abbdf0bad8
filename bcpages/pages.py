"""Pages: Business Central's page objects, with its triggers as methods.

A page is bound to a record of a model (a card), to a list with a current record,
or to no record (a role center). One page object lives in one parent session (one
open page in one browser tab). The framework calls its triggers, in the parent
session, one at a time (S3):

- ``on_open_page()`` once, when the page opens;
- ``on_after_get_curr_record()`` when the page opens and after every change of
  current record; tasks are normally enqueued here (S32);
- ``on_page_background_task_completed(task_id, results)`` once per completed task;
- ``on_page_background_task_error(task_id, error)`` once per failed task; return
  True to mark the error handled (S27).

Page code calls ``enqueue_background_task``, ``cancel_background_task``,
``notify`` and ``message``; fields are plain attribute assignments.
"""

from django.core.exceptions import ImproperlyConfigured

from bcpages.fields import Field
from tasks.errors import CallbackUINotAllowed
from tasks.settings_cache import DEFAULT_ERROR_LEVEL

_pages: dict[str, type["Page"]] = {}


class UnknownPage(LookupError):
    pass


class UnknownRecord(LookupError):
    pass


class PageNotAllowed(PermissionError):
    """This user may not open this page (``Page.check_access``).

    ``hidden``: the page is switched off for everyone, so its address answers 404
    as if it did not exist; otherwise the views send the user to log in.
    """

    code = "PageNotAllowed"

    def __init__(self, text, *, hidden=False):
        super().__init__(text)
        self.text = text
        self.hidden = hidden


def get_page_class(name):
    try:
        return _pages[name]
    except (KeyError, TypeError):
        raise UnknownPage(f"Page {name!r} is not registered; known pages: {', '.join(sorted(_pages))}.") from None


def registered_pages():
    return dict(_pages)


def action(caption=None):
    """Declare a page method as an action the browser may run (``page.action``)."""

    def mark(method):
        method.page_action = caption or method.__name__.replace("_", " ").capitalize()
        return method

    return mark


class Page:
    # Templates get the page class; calling it there would build a page object.
    do_not_call_in_templates = True
    #: Registry name, used in URLs, frames and the JSON page API.
    name: str | None = None
    caption = ""
    template = "bcpages/card.html"
    #: Django URL name taking the record key as ``no``; the browser shows it after navigation.
    url_name: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.fields = {name: value for klass in reversed(cls.__mro__) for name, value in vars(klass).items() if isinstance(value, Field)}
        cls.actions = {
            name: getattr(value, "page_action")
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if callable(value) and hasattr(value, "page_action")
        }
        if cls.__dict__.get("name"):
            existing = _pages.get(cls.name)
            where = f"{cls.__module__}.{cls.__qualname__}"
            if existing is not None and f"{existing.__module__}.{existing.__qualname__}" != where:
                # A second page of the same name would silently take over its URLs,
                # frames and JSON API (re-importing the same class is fine).
                raise ImproperlyConfigured(
                    f"Page name {cls.name!r} is taken twice: by {existing.__module__}.{existing.__qualname__} "
                    f"and by {where}; give one of them another name."
                )
            _pages[cls.name] = cls

    def __init__(self, session=None):
        self._session = session
        self._values = {}
        self._states = {}
        self._assigned = set()
        self.rec = None

    # Records -------------------------------------------------------------
    @classmethod
    def get_record(cls, key):
        """The record with key ``key``, or raise UnknownRecord. None for record-less pages,
        which take only the empty key."""
        if key != "":
            raise UnknownRecord(f"Page {cls.name!r} has no record; open it with record \"\", not {key!r}.")
        return None

    @classmethod
    def record_key(cls, record):
        return ""

    @classmethod
    def step_record(cls, record, step):
        """The key of the record ``step`` (next, previous, first, last) from ``record``, or None."""
        return None

    @classmethod
    def record_url(cls, key):
        if not cls.url_name:
            return None
        from django.urls import reverse

        return reverse(cls.url_name, kwargs={"no": key}) if key else reverse(cls.url_name)

    # Access ----------------------------------------------------------------
    @classmethod
    def check_access(cls, user):
        """Raise PageNotAllowed when ``user`` (None or anonymous without a login) may
        not open this page. Consulted when the page opens: by the views (404, or the
        admin login) and by the parent session (an ``error`` frame PageNotAllowed).
        Everyone may open a page by default."""

    # Triggers (override) --------------------------------------------------
    def on_open_page(self):
        pass

    def on_after_get_curr_record(self):
        pass

    def on_page_background_task_completed(self, task_id, results):
        pass

    def on_page_background_task_error(self, task_id, error):
        return False

    # Verbs ----------------------------------------------------------------
    def enqueue_background_task(self, codeunit_id, parameters=None, timeout=None, error_level=DEFAULT_ERROR_LEVEL):
        """Queue a page background task for the current record and return its task id.

        codeunit_id: a registered, enabled codeunit (UnknownCodeunit otherwise).
        parameters:  ``dict[str, str]``, copied now (InvalidTaskParameters otherwise).
        timeout:     milliseconds from the moment the task runs; default: the
                     codeunit's default timeout set by an administrator, else
                     ``BCPAGES["DEFAULT_TIMEOUT_MS"]`` (120,000); clamped to
                     ``MAX_TIMEOUT_MS`` (600,000); must be a positive int.
        error_level: "error" (default), "warning" or "ignore": what the user sees
                     when the task fails and the error trigger does not handle it.
                     Left out, the codeunit's default error level set by an
                     administrator applies, else "error".

        Raises ChildSessionsMaxQueueLength when 5 tasks run and 100 wait. Nothing is
        queued when it raises. See ``try_enqueue_background_task`` for the form that
        returns None instead (Business Central's ``Ok :=``).

        The task's result reaches ``on_page_background_task_completed`` only while
        the page still shows the record it was enqueued for (S14, S17)::

            def on_after_get_curr_record(self):
                self.wait_task = self.enqueue_background_task(50100, {"Wait": "1000"}, timeout=10_000)

        Test it with ``tasks.testing.TestPage``.
        """
        return self._session.enqueue(self, codeunit_id, parameters, timeout, error_level)

    def try_enqueue_background_task(self, codeunit_id, parameters=None, timeout=None, error_level=DEFAULT_ERROR_LEVEL):
        """Like ``enqueue_background_task``, but returns None instead of raising (S7)."""
        return self._session.enqueue(self, codeunit_id, parameters, timeout, error_level, raise_errors=False)

    def cancel_background_task(self, task_id):
        """Cancel a queued or running task: True if it was live, False otherwise (S8)."""
        return self._session.cancel(task_id)

    def notify(self, text, level="info"):
        """Show a notification in the browser ("info", "warning" or "error")."""
        self._session.notify(level, str(text))

    def message(self, text):
        """Show a message box the user must close (Business Central's ``Message``).

        A dialog waits for the user, so it is refused inside the background task
        triggers with CallbackUINotAllowed (S31); actions may show one.
        """
        if self._session.in_task_trigger:
            raise CallbackUINotAllowed(
                f"A dialog ({text!r:.60}) cannot be shown from a page background task trigger; "
                f"use notify() instead."
            )
        self._session.dialog(str(text))

    # Field plumbing ---------------------------------------------------------
    def _set_field(self, name, value):
        self._values[name] = value
        self._assigned.add(name)

    def field_values(self):
        return {name: self._values.get(name, "") for name in self.fields}

    def field_states(self):
        return {name: self._states.get(name, "ok") for name in self.fields}


class CardPage(Page):
    """A page bound to one record of ``model``, found by ``key_field``."""

    model = None
    key_field = "no"

    @classmethod
    def get_record(cls, key):
        try:
            return cls.model._default_manager.get(**{cls.key_field: key})
        except (cls.model.DoesNotExist, ValueError):
            raise UnknownRecord(f"{cls.model._meta.verbose_name.capitalize()} {key!r} does not exist.") from None

    @classmethod
    def record_key(cls, record):
        return str(getattr(record, cls.key_field))

    @classmethod
    def step_record(cls, record, step):
        records = cls.model._default_manager.order_by(cls.key_field).values_list(cls.key_field, flat=True)
        key = getattr(record, cls.key_field)
        if step == "first":
            found = records.first()
        elif step == "last":
            found = records.last()
        elif step == "next":
            found = records.filter(**{f"{cls.key_field}__gt": key}).first()
        else:
            found = records.filter(**{f"{cls.key_field}__lt": key}).last()
        return None if found is None else str(found)


class RoleCenterPage(Page):
    """A page without a record (its record key is "")."""

    template = "bcpages/role_center.html"


class ListPage(CardPage):
    """A list of ``model`` records with one current record (the selected row).

    Opened with an empty record key, it starts on the first record. Each change
    of the current row is a record change (S32).
    """

    @classmethod
    def get_record(cls, key):
        if key == "":
            first = cls.model._default_manager.order_by(cls.key_field).first()
            if first is None:
                raise UnknownRecord(f"The list {cls.name!r} has no records.")
            return first
        return super().get_record(key)

    @classmethod
    def record_url(cls, key):
        from django.urls import reverse

        return reverse(cls.url_name) if cls.url_name else None
