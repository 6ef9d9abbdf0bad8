"""``manage.py create_child_session_role [--database ALIAS]``: the read-only role of child sessions.

The ``tasks`` app's migration 0001 does the same on ``migrate``; run this after
tables were created by a role other than the one that migrates (they then lack
the SELECT grant), or to check a deployment. Idempotent. See ``tasks.child_role``.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from tasks.child_role import ensure_child_session_role


class Command(BaseCommand):
    help = "Create or update the PostgreSQL role that child sessions connect as (read-only)."

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="The database alias (default: %(default)s).")

    def handle(self, *args, database, **options):
        try:
            ensure_child_session_role(connections[database], log=self.stdout.write)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
