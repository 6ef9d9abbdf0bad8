"""A named catalogue of codeunits for tests (``BCPAGES["CODEUNIT_MODULES"]``).

Each one does one thing a test needs. They take ids from 99000 up so that they
never collide with an application's own codeunits. Not loaded in production:
``tests/settings.py`` lists this module in ``CODEUNIT_MODULES``.
"""

import os
import signal
import time

from tasks.codeunits import codeunit

NOOP = 99000
ECHO_PARAMETERS = 99001
SLEEP_MS = 99002
BUSY_LOOP = 99003
RAISES_VALUE_ERROR = 99004
ATTEMPTS_WRITE = 99005
RETURNS_NON_STRING = 99006
KILLS_OWN_PROCESS = 99007
RAISES_CODED_ERROR = 99008
RETURNS_NOTHING = 99009
IS_CHILD_SESSION = 99010


@codeunit(NOOP, "noop", "Returns an empty result at once.")
def noop(parameters):
    return {}


@codeunit(ECHO_PARAMETERS, "echo_parameters", "Returns its parameters.")
def echo_parameters(parameters):
    return dict(parameters)


@codeunit(SLEEP_MS, "sleep_ms", "Sleeps parameters['ms'] milliseconds.")
def sleep_ms(parameters):
    time.sleep(int(parameters.get("ms", "1000")) / 1000)
    return {"slept": parameters.get("ms", "1000")}


@codeunit(BUSY_LOOP, "busy_loop", "Burns CPU for parameters['ms'] milliseconds (forever without it).")
def busy_loop(parameters):
    end = time.monotonic() + int(parameters["ms"]) / 1000 if "ms" in parameters else float("inf")
    count = 0
    while time.monotonic() < end:
        count += 1
    return {"iterations": str(count)}


@codeunit(RAISES_VALUE_ERROR, "raises_value_error", "Raises ValueError('bad value').")
def raises_value_error(parameters):
    raise ValueError("bad value")


class CodedError(Exception):
    code = "CustomerBlocked"


@codeunit(RAISES_CODED_ERROR, "raises_coded_error", "Raises an exception with a code attribute.")
def raises_coded_error(parameters):
    raise CodedError(parameters.get("text", "Customer is blocked."))


@codeunit(ATTEMPTS_WRITE, "attempts_write", "Renames customer parameters['CustomerNo'] through the ORM.")
def attempts_write(parameters):
    from bcpages.demo.models import Customer

    customer = Customer.objects.get(no=parameters.get("CustomerNo", "10000"))
    customer.name = "Written by a child session"
    customer.save()
    return {"written": "yes"}


@codeunit(RETURNS_NON_STRING, "returns_non_string", "Returns {'count': 42} (an int).")
def returns_non_string(parameters):
    return {"count": 42}


@codeunit(KILLS_OWN_PROCESS, "kills_own_process", "Sends SIGKILL to its own process.")
def kills_own_process(parameters):
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


@codeunit(RETURNS_NOTHING, "returns_nothing", "Returns None: completes with an empty result (S21).")
def returns_nothing(parameters):
    return None


@codeunit(IS_CHILD_SESSION, "is_child_session", "Reports tasks.is_child_session().")
def reports_child_session(parameters):
    from tasks import is_child_session

    return {"child_session": str(is_child_session())}


# Hostile codeunits (S16, S18, S19, S24): each does one thing a child session must
# survive. The write forms name the table they aim at, demo_customer.

LONG_QUERY = 99011
WRITES_ORM_CREATE = 99012
WRITES_ORM_BULK_CREATE = 99013
WRITES_ORM_UPDATE = 99014
WRITES_ORM_DELETE = 99015
WRITES_RAW_INSERT = 99016
WRITES_RAW_UPDATE = 99017
WRITES_RAW_DELETE = 99018
RUNS_DDL = 99019
SELECTS_FOR_UPDATE = 99020
WRITES_THROUGH_SECOND_CONNECTION = 99021
WRITES_THROUGH_NEW_ALIAS = 99022
WRITES_PAST_THE_GUARD = 99023
EXITS_PROCESS = 99024
SEGFAULTS = 99025
MEMORY_HOG = 99026
HUGE_RESULT = 99027
IGNORES_STOP = 99028
WORKS_IN_MEMORY = 99029
SWALLOWS_WRITE_ERROR = 99030
RAISES_SYSTEM_EXIT = 99031
REPORTS_PROCESS = 99032
ASKS_THE_USER = 99033
CALLS_THE_PAGE = 99034

# Every codeunit above that tries to write, for tests that go through them all.
WRITE_FORMS = (
    ATTEMPTS_WRITE,
    WRITES_ORM_CREATE,
    WRITES_ORM_BULK_CREATE,
    WRITES_ORM_UPDATE,
    WRITES_ORM_DELETE,
    WRITES_RAW_INSERT,
    WRITES_RAW_UPDATE,
    WRITES_RAW_DELETE,
    RUNS_DDL,
    SELECTS_FOR_UPDATE,
    WRITES_THROUGH_SECOND_CONNECTION,
    WRITES_THROUGH_NEW_ALIAS,
    WRITES_PAST_THE_GUARD,
    SWALLOWS_WRITE_ERROR,
)

# A recursive CTE that counts to parameters['n'] (default 2e9): seconds to
# minutes on SQLite and PostgreSQL alike, in the database engine, not in Python.
_COUNTING_QUERY = (
    "WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter WHERE n < %s) "
    "SELECT count(*) FROM counter"
)


@codeunit(LONG_QUERY, "long_query", "Runs a recursive CTE counting to parameters['n'] (2e9 without it).")
def long_query(parameters):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_COUNTING_QUERY, [int(parameters.get("n", "2000000000"))])
        return {"count": str(cursor.fetchone()[0])}


@codeunit(WRITES_ORM_CREATE, "writes_orm_create", "Customer.objects.create().")
def writes_orm_create(parameters):
    from bcpages.demo.models import Customer

    Customer.objects.create(no="CHILD-1", name="Created by a child session")
    return {"written": "yes"}


@codeunit(WRITES_ORM_BULK_CREATE, "writes_orm_bulk_create", "Customer.objects.bulk_create().")
def writes_orm_bulk_create(parameters):
    from bcpages.demo.models import Customer

    Customer.objects.bulk_create([Customer(no=f"CHILD-{n}", name="Bulk") for n in range(3)])
    return {"written": "yes"}


@codeunit(WRITES_ORM_UPDATE, "writes_orm_update", "Customer.objects.update().")
def writes_orm_update(parameters):
    from bcpages.demo.models import Customer

    return {"updated": str(Customer.objects.update(name="Updated by a child session"))}


@codeunit(WRITES_ORM_DELETE, "writes_orm_delete", "Customer.objects.all().delete().")
def writes_orm_delete(parameters):
    from bcpages.demo.models import CustLedgerEntry

    return {"deleted": str(CustLedgerEntry.objects.all().delete()[0])}


def _raw(sql):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
    return {"written": "yes"}


@codeunit(WRITES_RAW_INSERT, "writes_raw_insert", "Raw SQL INSERT.")
def writes_raw_insert(parameters):
    return _raw(
        "INSERT INTO demo_customer (no, name, address, address_2, post_code, city, county, country_region_code, "
        "contact, email, currency_code, payment_terms_code, credit_limit_lcy, salesperson_code, "
        "customer_posting_group, source) VALUES ('CHILD-R', 'Raw', '', '', '', '', '', '', '', '', '', '', 0, '', '', 'x')"
    )


@codeunit(WRITES_RAW_UPDATE, "writes_raw_update", "Raw SQL UPDATE.")
def writes_raw_update(parameters):
    return _raw("UPDATE demo_customer SET name = 'Raw update'")


@codeunit(WRITES_RAW_DELETE, "writes_raw_delete", "Raw SQL DELETE.")
def writes_raw_delete(parameters):
    return _raw("DELETE FROM demo_custledgerentry")


@codeunit(RUNS_DDL, "runs_ddl", "Raw CREATE TABLE (DDL).")
def runs_ddl(parameters):
    return _raw("CREATE TABLE demo_child_session_table (id integer PRIMARY KEY)")


@codeunit(SELECTS_FOR_UPDATE, "selects_for_update", "select_for_update() in a transaction.")
def selects_for_update(parameters):
    from django.db import transaction

    from bcpages.demo.models import Customer

    with transaction.atomic():
        return {"locked": str(len(list(Customer.objects.select_for_update().all())))}


@codeunit(WRITES_THROUGH_SECOND_CONNECTION, "writes_through_second_connection",
          "Opens connections.create_connection('default') and updates through it.")
def writes_through_second_connection(parameters):
    from django.db import connections

    second = connections.create_connection("default")
    try:
        with second.cursor() as cursor:
            cursor.execute("UPDATE demo_customer SET name = 'Second connection'")
    finally:
        second.close()
    return {"written": "yes"}


@codeunit(WRITES_THROUGH_NEW_ALIAS, "writes_through_new_alias",
          "Adds a database alias copied from 'default' to the connection handler and updates through it.")
def writes_through_new_alias(parameters):
    from django.db import connections

    from bcpages.demo.models import Customer

    alias = "child_session_writer"
    connections.settings[alias] = dict(connections.settings["default"])
    writer = connections[alias]
    # The handler keeps the connection; the alias leaves DATABASES again, as a
    # tidy codeunit would (and Django's test cases allow only known aliases).
    del connections.settings[alias]
    try:
        Customer.objects.using(alias).filter(no="10000").update(name="New alias")
    finally:
        writer.close()
        del connections[alias]
    return {"written": "yes"}


@codeunit(WRITES_PAST_THE_GUARD, "writes_past_the_guard",
          "Turns the session read-write (where the database lets it) and inserts through the raw DB-API cursor, "
          "past Django's execute wrappers: only the database can refuse.")
def writes_past_the_guard(parameters):
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    cursor = raw.cursor()
    if connection.vendor == "postgresql":
        raw.autocommit = True
        cursor.execute("SET default_transaction_read_only = off")
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
    else:
        cursor.execute("PRAGMA query_only = 0")
    cursor.execute("DELETE FROM demo_custledgerentry")
    return {"written": "yes"}


@codeunit(SWALLOWS_WRITE_ERROR, "swallows_write_error", "Saves, catches the error, and returns as if nothing happened.")
def swallows_write_error(parameters):
    from bcpages.demo.models import Customer

    try:
        Customer.objects.filter(no="10000").update(name="Swallowed")
    except Exception:
        pass
    return {"written": "no, honestly"}


@codeunit(EXITS_PROCESS, "exits_process", "Calls os._exit(parameters['code']) (3 without it).")
def exits_process(parameters):
    os._exit(int(parameters.get("code", "3")))


@codeunit(SEGFAULTS, "segfaults", "Reads address 0 through ctypes.")
def segfaults(parameters):
    import ctypes

    ctypes.string_at(0)
    return {}


@codeunit(MEMORY_HOG, "memory_hog", "Allocates 64 MiB blocks until it holds parameters['mb'] MiB (64 GiB without it).")
def memory_hog(parameters):
    # bytes(n) is calloc'ed: address space without touching the pages, so the
    # limit is reached at once and the machine's memory is not.
    blocks = []
    for _ in range(int(parameters.get("mb", str(64 * 1024))) // 64):
        blocks.append(bytes(64 * 1024 * 1024))
    return {"allocated_mb": str(len(blocks) * 64)}


@codeunit(HUGE_RESULT, "huge_result", "Returns a value of parameters['bytes'] characters (2,000,000 without it).")
def huge_result(parameters):
    return {"blob": "x" * int(parameters.get("bytes", "2000000"))}


@codeunit(IGNORES_STOP, "ignores_stop",
          "Swallows every request to stop: burns CPU forever, or with parameters['query'] reruns the long query forever.")
def ignores_stop(parameters):
    from django.db import connection

    while True:
        try:
            if "query" in parameters:
                with connection.cursor() as cursor:
                    cursor.execute(_COUNTING_QUERY, [2_000_000_000])
            else:
                while True:
                    pass
        except BaseException:
            continue


@codeunit(WORKS_IN_MEMORY, "works_in_memory", "Builds lists, dicts and unsaved model instances (S19).")
def works_in_memory(parameters):
    from bcpages.demo.models import Customer

    customers = [Customer(no=str(n), name=f"Unsaved {n}") for n in range(100)]
    by_no = {customer.no: customer for customer in customers}
    by_no["7"].name = "Changed in memory"
    stored = Customer.objects.count()
    return {"unsaved": str(len(by_no)), "seventh": by_no["7"].name, "stored": str(stored)}


@codeunit(RAISES_SYSTEM_EXIT, "raises_system_exit", "Calls sys.exit(2).")
def raises_system_exit(parameters):
    import sys

    sys.exit(2)


@codeunit(REPORTS_PROCESS, "reports_process", "Reports its process id and the database its connection reads.")
def reports_process(parameters):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user" if connection.vendor == "postgresql" else "SELECT 'sqlite'")
        user = cursor.fetchone()[0]
    return {"pid": str(os.getpid()), "vendor": connection.vendor, "name": str(connection.settings_dict["NAME"]), "user": user}


@codeunit(ASKS_THE_USER, "asks_the_user", "Prints a question and waits for an answer with input() (S20).")
def asks_the_user(parameters):
    print("Post the invoice? (y/n)")
    return {"answer": input()}


@codeunit(CALLS_THE_PAGE, "calls_the_page",
          "Sends a field.update to parameters['channel'] over the channel layer, bypassing the result (S20).")
def calls_the_page(parameters):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    async_to_sync(get_channel_layer().send)(parameters.get("channel", "nobody"), {"type": "field.update"})
    return {"sent": "yes"}
