"""The read-only rule of child sessions: the statement guard, the database's own
refusal, and the PostgreSQL role (S18, S19, S22).

Marked ``postgres``: these run on SQLite in the main pass and again on PostgreSQL
in ``make test-postgres``.
"""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.utils import load_backend

from tasks import is_child_session
from tasks.child_database import child_role, read_only_settings
from tasks.errors import ChildSessionReadOnly
from tasks.readonly import database_refusal, describe_statement, read_only, statement_violation

pytestmark = [pytest.mark.postgres]
# Child connections are separate connections: the data they read must be committed.
database = pytest.mark.django_db(transaction=True)

INSERT_CUSTOMER = (
    "INSERT INTO demo_customer (no, name, address, address_2, post_code, city, county, country_region_code, "
    "contact, email, currency_code, payment_terms_code, credit_limit_lcy, salesperson_code, "
    "customer_posting_group, source) VALUES ('RO-1', 'x', '', '', '', '', '', '', '', '', '', '', 0, '', '', 'x')"
)
# Every write form, as SQL the database sees: (statement, operation, table).
WRITES = [
    (INSERT_CUSTOMER, "INSERT", "demo_customer"),
    ("UPDATE demo_customer SET name = 'x'", "UPDATE", "demo_customer"),
    ("DELETE FROM demo_custledgerentry", "DELETE", "demo_custledgerentry"),
    ("CREATE TABLE demo_readonly_probe (id integer)", "CREATE TABLE", "demo_readonly_probe"),
    ("DROP TABLE demo_item", "DROP TABLE", "demo_item"),
    ("ALTER TABLE demo_item ADD COLUMN probe integer", "ALTER TABLE", "demo_item"),
    ("CREATE INDEX demo_probe_idx ON demo_item (description)", "CREATE INDEX", "demo_item"),
]


@pytest.mark.parametrize(
    "sql, expected",
    [
        ('INSERT INTO "demo_customer" ("no") VALUES (%s)', ("INSERT", "demo_customer")),
        ("insert or replace into demo_item values (1)", ("INSERT", "demo_item")),
        ("REPLACE INTO demo_item VALUES (1)", ("REPLACE", "demo_item")),
        ('UPDATE "demo_customer" SET "name" = %s', ("UPDATE", "demo_customer")),
        ('DELETE FROM "demo_custledgerentry" WHERE "entry_no" = %s', ("DELETE", "demo_custledgerentry")),
        ("CREATE TABLE IF NOT EXISTS probe (id int)", ("CREATE TABLE", "probe")),
        ('CREATE UNIQUE INDEX CONCURRENTLY probe ON "public"."demo_item" (no)', ("CREATE UNIQUE INDEX", "public.demo_item")),
        ("DROP TABLE demo_item", ("DROP TABLE", "demo_item")),
        ("ALTER TABLE ONLY demo_item ADD COLUMN x int", ("ALTER TABLE", "demo_item")),
        ("TRUNCATE demo_item", ("TRUNCATE", "demo_item")),
        ('SELECT "demo_customer"."no" FROM "demo_customer" FOR UPDATE', ("SELECT ... FOR UPDATE", "demo_customer")),
        ("SELECT * FROM demo_item FOR NO KEY UPDATE", ("SELECT ... FOR NO KEY UPDATE", "demo_item")),
        ("WITH gone AS (DELETE FROM demo_item RETURNING *) SELECT * FROM gone", ("DELETE", "demo_item")),
        ("WITH x AS (SELECT 1) INSERT INTO demo_item SELECT * FROM x", ("INSERT", "demo_item")),
        ("LOCK TABLE demo_item IN ACCESS EXCLUSIVE MODE", ("LOCK", "demo_item")),
        ("COPY demo_item FROM STDIN", ("COPY", "demo_item")),
        ("ATTACH DATABASE 'file:other.sqlite3?mode=rw' AS other", ("ATTACH", "other")),
        ("MERGE INTO demo_item USING s ON true WHEN MATCHED THEN DELETE", ("MERGE", "demo_item")),
        ("/* a comment */ -- and another\n insert into demo_item values (1)", ("INSERT", "demo_item")),
    ],
)
def test_the_guard_names_the_operation_and_the_table_of_every_write(sql, expected):  # S18
    assert statement_violation(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "SELECT * FROM demo_customer WHERE name = 'Ready for update; insert into x'",
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5) SELECT count(*) FROM c",
        "COPY demo_item TO STDOUT",
        "SAVEPOINT s1",
        "PRAGMA foreign_keys = OFF",
    ],
)
def test_reads_are_not_writes(sql):  # S18, S19
    assert statement_violation(sql) is None


@database
def test_read_only_refuses_writes_before_the_database_and_remembers_them(customers):  # S18, S22
    from bcpages.demo.models import Customer

    assert not is_child_session()
    with read_only() as guard:
        assert is_child_session()
        with pytest.raises(ChildSessionReadOnly, match="UPDATE on table 'demo_customer' was refused"):
            Customer.objects.filter(no="10000").update(name="x")
        assert Customer.objects.count() == 3  # reading is fine
    assert not is_child_session()
    assert [str(error) for error in guard.violations] == [
        "A child session is read-only: UPDATE on table 'demo_customer' was refused. "
        "Background tasks may read the database; write from the page's triggers instead."
    ]
    assert Customer.objects.get(no="10000").name == "Adatum Corporation"


@pytest.fixture
def read_only_connection(customers):
    """A connection opened the way a child session opens it, without any guard."""
    settings = read_only_settings(connection.settings_dict)
    wrapper = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, "read_only_probe")
    yield wrapper
    wrapper.close()


def _refusal(wrapper, statements):
    """Run ``statements`` on ``wrapper``'s DB-API connection (past Django's execute
    wrappers) and return the database's refusal of the last one, translated."""
    wrapper.ensure_connection()
    cursor = wrapper.connection.cursor()
    *setup, statement = statements
    for sql in setup:
        cursor.execute(sql)
    try:
        cursor.execute(statement)
    except Exception as exc:
        return database_refusal(exc, statement)
    return None


@database
@pytest.mark.parametrize("sql, operation, table", WRITES)
def test_the_database_itself_refuses_every_write_of_a_child_connection(read_only_connection, sql, operation, table):  # S18
    # Even after asking the database to allow writes: SQLite's mode=ro cannot be
    # switched back, and the PostgreSQL role has nothing but SELECT.
    if read_only_connection.vendor == "postgresql":
        read_only_connection.ensure_connection()
        read_only_connection.connection.autocommit = True
        switch = ["SET default_transaction_read_only = off", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"]
    else:
        switch = ["PRAGMA query_only = 0"]
    refusal = _refusal(read_only_connection, [*switch, sql])
    assert isinstance(refusal, ChildSessionReadOnly)
    assert f"{operation} on table '{table}' was refused by the database" in refusal.text
    assert statement_violation(sql)[0] == operation


@database
def test_the_database_refuses_select_for_update_on_postgresql(read_only_connection):  # S18
    if read_only_connection.vendor != "postgresql":
        pytest.skip("SQLite has no SELECT ... FOR UPDATE (child sessions refuse it before the database)")
    refusal = _refusal(read_only_connection, ["SELECT no FROM demo_customer FOR UPDATE"])
    assert "SELECT ... FOR UPDATE on table 'demo_customer' was refused by the database" in refusal.text


@database
def test_a_child_connection_reads_the_same_database(read_only_connection):  # S18
    read_only_connection.ensure_connection()
    cursor = read_only_connection.connection.cursor()
    cursor.execute("SELECT count(*) FROM demo_customer")
    assert cursor.fetchone()[0] == 3
    if read_only_connection.vendor == "sqlite":
        assert read_only_connection.settings_dict["NAME"].endswith("?mode=ro")
        assert str(connection.settings_dict["NAME"]) in read_only_connection.settings_dict["NAME"]
    else:
        assert read_only_connection.settings_dict["NAME"] == connection.settings_dict["NAME"]
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == child_role(connection.settings_dict)[0]


@database
def test_a_refusal_names_the_statement_found_in_the_traceback(read_only_connection):  # S18
    # No SQL given: it is read from the failed cursor call's frames.
    read_only_connection.ensure_connection()
    with read_only_connection.cursor() as cursor:  # Django's cursor, no guard installed
        try:
            cursor.execute("DELETE FROM demo_custledgerentry")
        except Exception as exc:
            refusal = database_refusal(exc)
    assert "DELETE on table 'demo_custledgerentry' was refused by the database" in refusal.text


def test_other_errors_are_not_refusals():
    assert database_refusal(ValueError("attempt to write")) is None
    assert describe_statement("SELECT * FROM demo_item") == ("SELECT", "demo_item")


@database
def test_the_child_session_role_can_read_and_nothing_else(customers):  # S18
    if connection.vendor != "postgresql":
        pytest.skip("SQLite child sessions open the file read-only; there is no role")
    role, _ = child_role(connection.settings_dict)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolconfig FROM pg_roles WHERE rolname = %s", [role]
        )
        superuser, createrole, createdb, login, config = cursor.fetchone()
        assert (superuser, createrole, createdb, login) == (False, False, False, True)
        assert "default_transaction_read_only=on" in config
        for privilege, granted in (("SELECT", True), ("INSERT", False), ("UPDATE", False), ("DELETE", False), ("TRUNCATE", False)):
            cursor.execute("SELECT has_table_privilege(%s, 'demo_customer', %s)", [role, privilege])
            assert cursor.fetchone()[0] is granted, privilege
        cursor.execute("SELECT has_schema_privilege(%s, current_schema(), 'CREATE')", [role])
        assert cursor.fetchone()[0] is False


@database
def test_create_child_session_role_is_idempotent(capsys):  # S18
    call_command("create_child_session_role")
    call_command("create_child_session_role")
    out = capsys.readouterr().out
    if connection.vendor == "postgresql":
        assert "may read every table" in out
    else:
        assert "no role needed" in out
