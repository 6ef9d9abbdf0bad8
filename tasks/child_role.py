"""The PostgreSQL role child sessions connect as: it can read and nothing else (S18).

Created or updated after every ``migrate`` (a ``post_migrate`` receiver, so
every migrated database has it, test databases included, and tables added by
later migrations get their grant), and by ``manage.py create_child_session_role``
(after tables were added by a role other than the one that migrates, or to
check an existing deployment). Both run ``ensure_child_session_role``.

The role:

- logs in, and is nothing else (no superuser, no CREATEDB, no CREATEROLE);
- has ``default_transaction_read_only`` on, so every transaction it starts is
  read-only; ``SET TRANSACTION READ WRITE`` gets it no further, because
- it holds only CONNECT on the database, USAGE on the schema and SELECT on its
  tables (now and, through default privileges, those the migrating role creates
  later): an INSERT, UPDATE, DELETE, DDL or SELECT ... FOR UPDATE is refused
  with "permission denied";
- has ``client_connection_check_interval`` set (PostgreSQL 14+), so that a query
  whose child process was killed stops within a second even when nobody cancels it.

Its name and password come from ``DATABASES[alias]["CHILD_SESSION_USER"]`` and
``["CHILD_SESSION_PASSWORD"]`` (defaults: ``bcpages_child_session``, no password:
trust or peer authentication, or a ``.pgpass``). The role that migrates needs
CREATEROLE, or a database administrator creates the role once and the
migration only grants.
"""

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_migrate

from tasks.child_database import child_role


def _after_migrate(sender, using=DEFAULT_DB_ALIAS, **kwargs):
    # post_migrate comes once per app: act once per migrate, after the last app.
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if with_models and sender is with_models[-1]:
        ensure_child_session_role(connections[using])


def connect_to_migrate():
    """Keep the role current after every ``migrate`` (called when ``tasks`` is imported)."""
    post_migrate.connect(_after_migrate, dispatch_uid="tasks.child_session_role_after_migrate")


def ensure_child_session_role(connection, log=lambda line: None):
    """Create or update the child session role for ``connection``'s database. Idempotent.

    Does nothing on databases other than PostgreSQL (SQLite files are opened
    read-only instead). ``log`` receives one line per step.
    """
    if connection.vendor != "postgresql":
        log(f"{connection.vendor}: no role needed (child sessions open the database read-only).")
        return
    from django.db import transaction
    from psycopg import errors, sql

    role, password = child_role(connection.settings_dict)
    name = sql.Identifier(role)
    connection.ensure_connection()

    def run(statement, *args):
        with connection.cursor() as cursor:
            cursor.execute(statement.format(*args).as_string(connection.connection))

    def fetch(query):
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchone()

    if fetch(sql.SQL("SELECT 1 FROM pg_roles WHERE rolname = {}").format(sql.Literal(role)).as_string(connection.connection)) is None:
        try:
            with transaction.atomic(using=connection.alias):  # a savepoint inside a migration
                run(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"), name)
            log(f"Created role {role}.")
        except Exception as exc:
            cause = exc.__cause__ or exc
            if isinstance(cause, (errors.DuplicateObject, errors.UniqueViolation)):
                pass  # created meanwhile by another process migrating another test database
            elif isinstance(cause, errors.InsufficientPrivilege):
                raise RuntimeError(
                    f"The role {role!r} for child sessions does not exist and {connection.settings_dict.get('USER')!r} "
                    f"may not create it. Ask a database administrator to run: CREATE ROLE {role} LOGIN; "
                    f"then migrate again (or run manage.py create_child_session_role)."
                ) from exc
            else:
                raise
    if password:
        run(sql.SQL("ALTER ROLE {} PASSWORD {}"), name, sql.Literal(password))
    run(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on"), name)
    if connection.pg_version >= 140000:
        run(sql.SQL("ALTER ROLE {} SET client_connection_check_interval = '1s'"), name)
    database, schema, owner, superuser = fetch(
        "SELECT current_database(), current_schema(), current_user, "
        "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
    )
    run(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}"), sql.Identifier(database), name)
    run(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}"), sql.Identifier(schema), name)
    run(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}"), sql.Identifier(schema), name)
    run(
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"),
        sql.Identifier(owner), sql.Identifier(schema), name,
    )
    log(f"Role {role} may read every table of schema {schema} in database {database}, and write none.")
    if not superuser:
        # The worker ends the backends of child processes it killed
        # (pg_terminate_backend), which needs membership of the role.
        try:
            with transaction.atomic(using=connection.alias):
                run(sql.SQL("GRANT {} TO {}"), name, sql.Identifier(owner))
        except Exception as exc:
            log(f"Could not make {owner} a member of {role} ({exc}); the queries of killed child sessions then "
                f"end only when PostgreSQL notices the lost client.")
