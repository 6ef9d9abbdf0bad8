"""The database as a child process sees it: read-only, enforced by the database (S18).

Runs in: a child process, once after fork (``prepare_child_databases``) and on
every connection it opens (``_on_connection``); and in the parent for
``terminate_backends``.

- SQLite: the file is opened with the URI ``mode=ro``. A codeunit cannot switch
  such a connection back (``PRAGMA query_only = 0`` changes nothing), and every
  connection made from these settings, also a second one through Django's
  connection handler, is read-only too. ATTACH is refused, since an attached
  file would be opened for writing.
- PostgreSQL: the child connects as a role that may only SELECT, with
  ``default_transaction_read_only`` on (``tasks.child_role``): ``SET TRANSACTION
  READ WRITE`` then only reaches "permission denied".

The parent's database settings are rewritten in place in the child (the child
owns its copy of the memory), so ``connections.create_connection('default')``
and a new alias copied from them are read-only as well.
"""

import logging
import os
import sqlite3
import sys
import urllib.parse

from asgiref.local import Local
from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created

logger = logging.getLogger("tasks")

#: The PostgreSQL role child sessions connect as, unless DATABASES[alias] sets
#: ``CHILD_SESSION_USER`` (and ``CHILD_SESSION_PASSWORD``).
DEFAULT_CHILD_ROLE = "bcpages_child_session"

# SQLite authorizer action codes (sqlite3 constants) that write, and where the
# table name is: (name in the error, index of the table argument).
_SQLITE_WRITES = {
    sqlite3.SQLITE_INSERT: ("INSERT", 0),
    sqlite3.SQLITE_UPDATE: ("UPDATE", 0),
    sqlite3.SQLITE_DELETE: ("DELETE", 0),
    sqlite3.SQLITE_CREATE_TABLE: ("CREATE TABLE", 0),
    sqlite3.SQLITE_CREATE_TEMP_TABLE: ("CREATE TABLE", 0),
    sqlite3.SQLITE_CREATE_INDEX: ("CREATE INDEX", 1),
    sqlite3.SQLITE_CREATE_VIEW: ("CREATE VIEW", 0),
    sqlite3.SQLITE_CREATE_TRIGGER: ("CREATE TRIGGER", 1),
    sqlite3.SQLITE_DROP_TABLE: ("DROP TABLE", 0),
    sqlite3.SQLITE_DROP_INDEX: ("DROP INDEX", 1),
    sqlite3.SQLITE_DROP_VIEW: ("DROP VIEW", 0),
    sqlite3.SQLITE_ALTER_TABLE: ("ALTER TABLE", 1),
}
# How often (in SQLite virtual machine steps) a running query checks for a stop.
_SQLITE_PROGRESS_STEPS = 10_000

# Child-process state, set by prepare_child_databases().
_report_backend = None
_stopping = None
_last_sqlite_write = None
# The parent's connection objects, kept alive and never closed in the child:
# closing (or garbage-collecting) a PostgreSQL connection sends a Terminate on
# the socket the parent still uses.
_inherited = []


def child_role(settings_dict):
    """(user, password) a child session connects to PostgreSQL ``settings_dict`` as."""
    return settings_dict.get("CHILD_SESSION_USER") or DEFAULT_CHILD_ROLE, settings_dict.get("CHILD_SESSION_PASSWORD") or ""


def read_only_settings(settings_dict):
    """A copy of a DATABASES entry that opens a read-only connection (SQLite, PostgreSQL)."""
    result = dict(settings_dict)
    options = dict(result.get("OPTIONS") or {})
    engine = result.get("ENGINE", "")
    if engine.endswith("sqlite3"):
        result["NAME"] = _read_only_uri(result["NAME"])
        # The parent set the journal mode of the file; a read-only connection
        # cannot, and must not take a write lock at BEGIN.
        options.pop("init_command", None)
        options.pop("transaction_mode", None)
    elif "postgresql" in engine or "postgis" in engine:
        result["USER"], result["PASSWORD"] = child_role(result)
        options.pop("assume_role", None)  # would SET ROLE back to a role that can write
        options.pop("pool", None)  # the parent's pool objects do not survive a fork
        options["application_name"] = f"bcpages child session {os.getpid()}"
        # The role has this default too; say it here so a role made by hand gets it.
        options["options"] = (options.get("options", "") + " -c default_transaction_read_only=on").strip()
    result["OPTIONS"] = options
    return result


def _read_only_uri(name):
    name = str(name)
    if name.startswith("file:"):
        base, _, query = name[5:].partition("?")
        params = [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if k != "mode"]
        return "file:" + base + "?" + urllib.parse.urlencode(params + [("mode", "ro")])
    if name == ":memory:":
        return name  # a child could never see the parent's in-memory database anyway
    return "file:" + urllib.parse.quote(os.path.abspath(name)) + "?mode=ro"


def prepare_child_databases(report_backend, stopping):
    """In a new child process: make every connection read-only and the child's own.

    ``report_backend(alias, pid)`` is called with each PostgreSQL backend the
    child opens, so that the parent can stop its queries; ``stopping()`` is True
    once the parent asked the running codeunit to stop.
    """
    global _report_backend, _stopping
    _report_backend, _stopping = report_backend, stopping
    # Forget, without closing, the connections inherited from the parent.
    _inherited.extend(connections.all(initialized_only=True))
    connections._connections = Local(connections.thread_critical)
    seen = set()
    for source in (connections.settings, settings.DATABASES):
        for alias, settings_dict in source.items():
            if id(settings_dict) in seen:
                continue
            seen.add(id(settings_dict))
            read_only = read_only_settings(settings_dict)
            settings_dict.clear()
            settings_dict.update(read_only)
    # Secrets of the parent's role are of no use to a child session.
    os.environ.pop("DATABASE_URL", None)
    _make_select_for_update_visible()
    _make_psycopg_waits_interruptible()
    connection_created.connect(_on_connection, dispatch_uid="bcpages-child-session")


def _make_select_for_update_visible():
    """SQLite ignores ``select_for_update()``; in a child session it fails as on PostgreSQL.

    The SQL then carries FOR UPDATE, which the read-only guard refuses, so the
    same codeunit fails the same way on both backends.
    """
    if not any(entry.get("ENGINE", "").endswith("sqlite3") for entry in connections.settings.values()):
        return
    from django.db.backends.sqlite3.base import DatabaseWrapper

    DatabaseWrapper.features_class.has_select_for_update = True


def _make_psycopg_waits_interruptible():
    """psycopg's C wait loop looks at Python signals only every 100 ms; its poll()
    loop at once, so a stop reaches a running query without delay."""
    waiting = sys.modules.get("psycopg.waiting")  # loaded with the PostgreSQL backend
    if waiting is not None:
        waiting.wait = waiting.wait_poll


def _on_connection(sender, connection, **kwargs):
    from tasks.readonly import guard_connection

    guard_connection(connection)
    raw = connection.connection
    if connection.vendor == "sqlite":
        raw.set_progress_handler(_sqlite_progress, _SQLITE_PROGRESS_STEPS)
        raw.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        raw.set_authorizer(_sqlite_authorizer)
    elif connection.vendor == "postgresql" and _report_backend is not None:
        _report_backend(connection.alias, raw.info.backend_pid)


def _sqlite_progress():
    # Returning True aborts the running query ("interrupted"); calling into
    # Python here also lets the stop signal's handler run during a long query.
    return bool(_stopping and _stopping())


def _sqlite_authorizer(action, arg1, arg2, database, source):
    global _last_sqlite_write
    if action == sqlite3.SQLITE_ATTACH:
        _last_sqlite_write = ("ATTACH", arg1)
        return sqlite3.SQLITE_DENY
    write = _SQLITE_WRITES.get(action)
    if write is not None:
        table = (arg1, arg2)[write[1]]
        if table and not table.startswith("sqlite_"):
            _last_sqlite_write = (write[0], table)
    return sqlite3.SQLITE_OK


def last_sqlite_write():
    """(operation, table) of the last write SQLite was asked to prepare in this child."""
    return _last_sqlite_write


def close_child_connections():
    """Close the child's own connections (after a codeunit was stopped mid-way)."""
    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except Exception:  # a broken connection is closed either way
            pass


def terminate_backends(backends):
    """In the parent: end the PostgreSQL backends a killed child left running.

    ``backends`` maps an alias to the backend pids the child reported. A killed
    client's backend would run its query until it next writes to the socket.
    Only backends of the child role are ended, in case a pid was reused.
    """
    for alias, pids in backends.items():
        if not pids:
            continue
        connection = connections.create_connection(alias)
        try:
            user, _ = child_role(connection.settings_dict)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s) AND usename = %s",
                    [sorted(pids), user],
                )
        except Exception as exc:
            logger.warning("child_session_backend_not_ended alias=%s pids=%s error=%r", alias, sorted(pids), exc)
        finally:
            connection.close()
