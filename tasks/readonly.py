"""Where code runs, and the read-only rule of child sessions (S18, S19, S22).

``is_child_session()`` lets shared helpers skip writes instead of failing.

The rule is enforced by the database: a child session's connections are opened
read-only (``tasks.child_database``). This module is the second line of defence
and the words of the error:

- ``read_only()`` is entered around every codeunit run. It refuses any statement
  that would write before it reaches the database, so the error is the same on
  every backend, and it turns the database's own refusal (SQLite's "attempt to
  write a readonly database", PostgreSQL's "read-only transaction" and
  "permission denied") into the same ChildSessionReadOnly.
- ``describe_statement(sql)`` names the operation and the table of a statement.

Every refusal is remembered for the run, so a codeunit that catches the error
and carries on still fails its task: a child session that tried to write fails.
"""

import contextlib
import contextvars
import re

from django.db import connections

from tasks.errors import ChildSessionReadOnly

# The database's side of the rule on PostgreSQL: the role child sessions connect
# as is kept current after every migrate, test databases included. Connected
# here because this module is imported with the ``tasks`` package, before any
# migrate can run.
from tasks.child_role import connect_to_migrate  # noqa: E402

connect_to_migrate()

_in_child_session = contextvars.ContextVar("bcpages_child_session", default=False)
# The refusals of the current run (a list), or None outside read_only().
_violations = contextvars.ContextVar("bcpages_read_only_violations", default=None)
# True for the whole life of a child process: threads a codeunit starts are in
# its child session too, and contextvars do not cross into new threads.
_child_process = False

_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
# String literals are blanked before matching: 'for update' in a value is no lock.
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_WRITE = re.compile(
    r"(INSERT|UPDATE|DELETE|REPLACE|MERGE|UPSERT|CREATE|DROP|ALTER|TRUNCATE|GRANT|REVOKE|"
    r"VACUUM|REINDEX|ANALYZE|CLUSTER|REFRESH|COMMENT|ATTACH|DETACH|LOCK|COPY)\b",
    re.IGNORECASE,
)
# A data-modifying statement inside a WITH (PostgreSQL): WITH d AS (DELETE ...) SELECT.
_WRITE_IN_WITH = re.compile(r"\(\s*(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
_COPY_FROM = re.compile(r"\bFROM\s+(?:STDIN|PROGRAM\b|')", re.IGNORECASE)
_LOCKING = re.compile(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b", re.IGNORECASE)
_FIRST_WORD = re.compile(r"[A-Za-z]+")

_PART = r'(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[\w$]+)'
_NAME = rf"({_PART}(?:\s*\.\s*{_PART})?)"
_KIND = (
    r"(?:OR\s+REPLACE\s+)?((?:(?:UNIQUE|TEMP|TEMPORARY|UNLOGGED|MATERIALIZED|VIRTUAL|GLOBAL|LOCAL)\s+)*"
    r"(?:TABLE|VIEW|INDEX|TRIGGER|SEQUENCE|SCHEMA|FUNCTION|PROCEDURE|TYPE|EXTENSION|ROLE|DATABASE|DOMAIN|POLICY|RULE))\b"
)
# Where the table name stands after each operation's keyword.
_TARGETS = {
    "INSERT": rf"(?:OR\s+\w+\s+)?INTO\s+{_NAME}",
    "REPLACE": rf"INTO\s+{_NAME}",
    "UPSERT": rf"(?:INTO\s+)?{_NAME}",
    "MERGE": rf"INTO\s+(?:ONLY\s+)?{_NAME}",
    "UPDATE": rf"(?:OR\s+\w+\s+)?(?:ONLY\s+)?{_NAME}",
    "DELETE": rf"FROM\s+(?:ONLY\s+)?{_NAME}",
    "TRUNCATE": rf"(?:TABLE\s+)?(?:ONLY\s+)?{_NAME}",
    "LOCK": rf"(?:TABLE\s+)?(?:ONLY\s+)?{_NAME}",
    "COPY": rf"{_NAME}",
    "VACUUM": rf"(?:\w+\s+)*?{_NAME}\s*$",
    "ANALYZE": rf"{_NAME}",
    "REINDEX": rf"(?:TABLE|INDEX)\s+{_NAME}",
    "CLUSTER": rf"{_NAME}",
    "REFRESH": rf"MATERIALIZED\s+VIEW\s+(?:CONCURRENTLY\s+)?{_NAME}",
    "ATTACH": rf"(?:DATABASE\s+)?\S+\s+AS\s+{_NAME}",
    "DETACH": rf"(?:DATABASE\s+)?{_NAME}",
    "COMMENT": rf"ON\s+\w+\s+{_NAME}",
}
_DDL_OBJECT = re.compile(
    rf"\s+{_KIND}\s+(?:CONCURRENTLY\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(?:ONLY\s+)?{_NAME}", re.IGNORECASE
)
_ON_TABLE = re.compile(rf"\bON\s+(?:ONLY\s+)?{_NAME}", re.IGNORECASE)
_FROM_TABLE = re.compile(rf"\bFROM\s+(?:ONLY\s+)?{_NAME}", re.IGNORECASE)
_ANY_TABLE = re.compile(rf"\b(?:INTO|UPDATE|FROM|TABLE|ON)\s+(?:ONLY\s+)?{_NAME}", re.IGNORECASE)

# The database's own refusals.
_PG_READ_ONLY = "25006"  # read_only_sql_transaction
_PG_PRIVILEGE = "42501"  # insufficient_privilege
_PG_OPERATION = re.compile(r"cannot execute (.+?) in a read-only transaction")
_PG_OBJECT = re.compile(r"permission denied for (?:table|relation|view|materialized view|sequence|schema|database) (\S+)")
_SQLITE_READ_ONLY = ("attempt to write a readonly database", "not authorized", "too many attached databases")


def is_child_session():
    """True while running inside a child session (a codeunit of a background task).

    Shared helpers use it to skip a write instead of failing the task::

        if not is_child_session():
            AuditEntry.objects.create(...)
    """
    return _child_process or _in_child_session.get()


def mark_child_process():
    """Called once in a new child process: everything it runs is a child session."""
    global _child_process
    _child_process = True


def _unquote(name):
    return ".".join(part.strip().strip('"`[]') for part in name.split("."))


def _statement(sql):
    if isinstance(sql, bytes):
        sql = sql.decode("utf-8", "replace")
    return _STRING_LITERAL.sub("''", _LEADING_COMMENTS.sub("", str(sql), count=1))


def _write_operation(sql):
    """(operation, rest of the statement after the keyword) if ``sql`` writes or locks."""
    text = sql
    if text[:4].upper() == "WITH":
        inner = _WRITE_IN_WITH.search(text)
        if inner is not None:
            return inner.group(1).upper(), text[inner.end():]
        # WITH ... (...) INSERT INTO t ...: the write follows the last closing parenthesis.
        closing = text.rfind(")")
        tail = text[closing + 1:].lstrip() if closing >= 0 else ""
        match = _WRITE.match(tail)
        if match is not None:
            return match.group(1).upper(), tail[match.end():]
    else:
        match = _WRITE.match(text)
        if match is not None:
            operation, rest = match.group(1).upper(), text[match.end():]
            if operation == "COPY" and not _COPY_FROM.search(rest):
                return None  # COPY ... TO only reads
            return operation, rest
    locking = _LOCKING.search(text)
    if locking is not None and _FIRST_WORD.match(text) and _FIRST_WORD.match(text).group(0).upper() in ("SELECT", "WITH"):
        return "SELECT ... " + " ".join(locking.group(0).upper().split()), text
    return None


def _table_of(operation, rest):
    if operation in ("CREATE", "DROP", "ALTER"):
        ddl = _DDL_OBJECT.match(rest)
        if ddl is None:
            return operation, None
        kind = " ".join(ddl.group(1).upper().split())
        operation = f"{operation} {kind}"
        if kind.endswith(("INDEX", "TRIGGER", "POLICY", "RULE")):
            on = _ON_TABLE.search(rest, ddl.end())
            if on is not None:
                return operation, _unquote(on.group(1))
        return operation, _unquote(ddl.group(2))
    if operation.startswith("SELECT ..."):
        found = _FROM_TABLE.search(rest)
        return operation, _unquote(found.group(1)) if found else None
    pattern = _TARGETS.get(operation)
    found = re.match(r"\s*" + pattern, rest, re.IGNORECASE | re.DOTALL) if pattern else None
    if found is None:
        found = _ANY_TABLE.search(rest)
    return operation, _unquote(found.group(1)) if found else None


def statement_violation(sql):
    """(operation, table) if ``sql`` would write or lock, else None.

    ``table`` is "?" when the statement names none (``VACUUM``).
    """
    text = _statement(sql)
    write = _write_operation(text)
    if write is None:
        return None
    operation, table = _table_of(*write)
    return operation, table or "?"


def describe_statement(sql):
    """(operation, table or None) of any statement, write or not: what a refusal names."""
    violation = statement_violation(sql)
    if violation is not None:
        return violation[0], (None if violation[1] == "?" else violation[1])
    text = _statement(sql)
    word = _FIRST_WORD.match(text)
    table = _ANY_TABLE.search(text)
    return (word.group(0).upper() if word else None), (_unquote(table.group(1)) if table else None)


def read_only_error(operation, table, by_database=False):
    """The ChildSessionReadOnly for ``operation`` on ``table`` (either may be None)."""
    what = operation or "A write"
    where = f"on table {table!r}" if table else "on a table it did not name"
    refused = "was refused by the database" if by_database else "was refused"
    return ChildSessionReadOnly(
        f"A child session is read-only: {what} {where} {refused}. "
        f"Background tasks may read the database; write from the page's triggers instead."
    )


def _chain(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _statement_in_traceback(exc):
    """The SQL text a failed cursor call was running, found in its frames.

    Django's cursor wrapper keeps it in ``sql``, psycopg's cursor in ``query``:
    this finds the statement even when a codeunit removed the execute wrappers.
    """
    for error in _chain(exc):
        tb, found = error.__traceback__, None
        while tb is not None:
            local = tb.tb_frame.f_locals
            for name in ("sql", "query"):
                value = local.get(name)
                if isinstance(value, (str, bytes)) and value.strip():
                    found = value
            tb = tb.tb_next
        if found is not None:
            return found
    return None


def database_refusal(exc, sql=None):
    """The ChildSessionReadOnly for ``exc`` if it is the database refusing a write, else None.

    Names the operation and table from ``sql`` (or the statement found in the
    traceback), else from what the database said.
    """
    if isinstance(exc, ChildSessionReadOnly):
        return exc
    operation = table = None
    refused = False
    for error in _chain(exc):
        sqlstate = getattr(error, "sqlstate", None)
        message = str(error)
        if sqlstate in (_PG_READ_ONLY, _PG_PRIVILEGE):
            refused = True
            said = _PG_OPERATION.search(message)
            operation = operation or (said.group(1).upper() if said else None)
            named = _PG_OBJECT.search(message)
            table = table or (_unquote(named.group(1)) if named else None)
        elif type(error).__module__ == "sqlite3" and any(text in message for text in _SQLITE_READ_ONLY):
            refused = True
            from tasks.child_database import last_sqlite_write

            intent = last_sqlite_write()
            if intent is not None:
                operation, table = operation or intent[0], table or intent[1]
    if not refused:
        return None
    sql = sql or _statement_in_traceback(exc)
    if sql is not None:
        said_operation, said_table = describe_statement(sql)
        operation, table = said_operation or operation, said_table or table
    return read_only_error(operation, table, by_database=True)


def _remember(error):
    violations = _violations.get()
    if violations is not None:
        violations.append(error)
    return error


def _deny_writes(execute, sql, params, many, context):
    """Execute wrapper: refuse a write before it reaches the database."""
    violation = statement_violation(sql)
    if violation is not None:
        raise _remember(read_only_error(*violation))
    return execute(sql, params, many, context)


def _translate_refusals(execute, sql, params, many, context):
    """Execute wrapper: the database's own refusal becomes ChildSessionReadOnly."""
    try:
        return execute(sql, params, many, context)
    except ChildSessionReadOnly:
        raise
    except Exception as exc:
        refusal = database_refusal(exc, sql)
        if refusal is None:
            raise
        raise _remember(refusal) from exc


def guard_connection(connection):
    """Add the read-only wrappers to ``connection`` (a Django DatabaseWrapper) for good.

    Used for connections a child process opens outside ``read_only()``, such as a
    second connection made with ``connections.create_connection()``.
    """
    for wrapper in (_translate_refusals, _deny_writes):
        if wrapper not in connection.execute_wrappers:
            connection.execute_wrappers.append(wrapper)


class ReadOnlyRun:
    """What ``read_only()`` yields: the refusals that happened during the run."""

    def __init__(self):
        self.violations = []

    def first_violation(self):
        return self.violations[0] if self.violations else None


@contextlib.contextmanager
def read_only():
    """Run the body as a child session: every database write fails.

    Yields a ReadOnlyRun whose ``violations`` list every refused write, also
    the ones the body caught.
    """
    run = ReadOnlyRun()
    token = _in_child_session.set(True)
    violations_token = _violations.set(run.violations)
    try:
        with contextlib.ExitStack() as stack:
            for alias in connections:
                connection = connections[alias]
                for wrapper in (_translate_refusals, _deny_writes):
                    if wrapper not in connection.execute_wrappers:
                        stack.enter_context(connection.execute_wrapper(wrapper))
            yield run
    finally:
        _violations.reset(violations_token)
        _in_child_session.reset(token)
