"""Settings for the test suite: the project's, plus the test codeunit catalogue."""

from bcpages.settings import *  # noqa: F401,F403
from bcpages.settings import BCPAGES

BCPAGES = {**BCPAGES, "CODEUNIT_MODULES": ["tasks.catalogue"], "CHILD_SESSIONS": 2}
