"""Where code runs, and the read-only rule of child sessions (S18, S19, S22).

``is_child_session()`` lets shared helpers skip writes instead of failing.
``read_only()`` is entered around every codeunit run: any statement that would
write fails with ChildSessionReadOnly, naming the table and the operation.
"""

import contextlib
import contextvars
import re

from django.db import connections

from tasks.errors import ChildSessionReadOnly

_in_child_session = contextvars.ContextVar("bcpages_child_session", default=False)

_WRITE = re.compile(
    r"^\s*(?:WITH\b.*?\)\s*)?(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|TRUNCATE|GRANT|REVOKE|VACUUM|REINDEX|ATTACH|DETACH|LOCK|COPY)\b",
    re.IGNORECASE | re.DOTALL,
)
_LOCKING = re.compile(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b", re.IGNORECASE)
_TABLE = re.compile(
    r"\b(?:INTO|UPDATE|FROM|TABLE|INDEX\s+\S+\s+ON|ON)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?[\"`\[]?([\w.]+)",
    re.IGNORECASE,
)


def is_child_session():
    """True while running inside a child session (a codeunit of a background task)."""
    return _in_child_session.get()


def statement_violation(sql):
    """(operation, table) if ``sql`` would write or lock, else None."""
    match = _WRITE.match(sql)
    operation = match.group(1).upper() if match else None
    if operation is None and _LOCKING.search(sql):
        operation = "SELECT ... " + " ".join(_LOCKING.search(sql).group(0).upper().split())
    if operation is None:
        return None
    table = _TABLE.search(sql)
    return operation, (table.group(1) if table else "?")


def _deny_writes(execute, sql, params, many, context):
    violation = statement_violation(sql)
    if violation is not None:
        operation, table = violation
        raise ChildSessionReadOnly(
            f"A child session is read-only: {operation} on table {table!r} was refused. "
            f"Background tasks may read the database; write from the page's triggers instead."
        )
    return execute(sql, params, many, context)


@contextlib.contextmanager
def read_only():
    """Run the body as a child session: every database write fails."""
    token = _in_child_session.set(True)
    try:
        with contextlib.ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(_deny_writes))
            yield
    finally:
        _in_child_session.reset(token)
