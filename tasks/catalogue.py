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
