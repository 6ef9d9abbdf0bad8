"""Are the services that some tests need reachable? (PostgreSQL, Redis)

``python -m tests.services postgres URL`` exits 0 when PostgreSQL answers, 1 when it
does not (the tests that need it are then skipped), and 2 when it does not but
``CI=true``: in CI those tests must run, so a missing service fails the run.
"""

import os
import socket
import sys
from urllib.parse import urlparse

DEFAULT_URLS = {"postgres": "postgres://postgres@127.0.0.1:5432/bcpages", "redis": "redis://127.0.0.1:6379/0"}
DEFAULT_PORTS = {"postgres": 5432, "redis": 6379}


def reachable(service, url=None):
    parsed = urlparse(url or DEFAULT_URLS[service])
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or DEFAULT_PORTS[service]), timeout=2):
            return True
    except OSError:
        return False


def in_ci():
    return os.environ.get("CI", "").lower() == "true"


def main(argv):
    service, url = argv[1], (argv[2] if len(argv) > 2 else None)
    if reachable(service, url):
        return 0
    if in_ci():
        print(f"{service} is not reachable at {url or DEFAULT_URLS[service]}, and CI=true requires it.", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
