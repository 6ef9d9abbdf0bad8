"""The administrators' settings as this process sees them: a snapshot of every
``CodeunitSetting`` and every enabled ``CodeunitBinding``.

``check_enabled`` runs on every enqueue and bindings are read on every page open,
so neither may query the database each time. The snapshot is loaded in two
queries and kept for ``TTL_S`` seconds; a save or delete in this process drops it
at once (``tasks.models`` receivers), so other processes see a change within
``TTL_S`` and this one at once. While one thread reloads, the others keep using
the old snapshot instead of waiting.

Runs in: whatever thread calls it (the parent session's database thread, a
view's thread); the reload queries the database from that thread.
"""

import logging
import threading
import time
from dataclasses import dataclass

from django.db import DatabaseError

logger = logging.getLogger("tasks")

#: Seconds a snapshot is trusted before the next reader reloads it.
TTL_S = 1.0


class DefaultErrorLevel(str):
    """The default of ``error_level`` in the enqueue verbs: equal to "error", but told
    apart from an explicit "error" by identity, so that the administrator's default
    error level applies only when page code did not name one."""

    __slots__ = ()


#: ``Page.enqueue_background_task(..., error_level=DEFAULT_ERROR_LEVEL)``
DEFAULT_ERROR_LEVEL = DefaultErrorLevel("error")


@dataclass(frozen=True)
class CodeunitPolicy:
    """What the administrator decided for one codeunit."""

    enabled: bool = True
    default_timeout_ms: int | None = None
    default_error_level: str = ""


_ENABLED = CodeunitPolicy()


@dataclass(frozen=True)
class Snapshot:
    loaded_at: float
    codeunits: dict  # codeunit id -> CodeunitPolicy
    bindings: dict  # page name -> tuple of tasks.bindings.Binding


_snapshot: Snapshot | None = None
_reload_lock = threading.Lock()
# Bumped by invalidate(): a reload that started before a save must not be trusted
# for a whole TTL after it.
_generation = 0


def current():
    """The snapshot, reloaded when older than TTL_S (or dropped by a save)."""
    snapshot = _snapshot
    if snapshot is not None and time.monotonic() - snapshot.loaded_at < TTL_S:
        return snapshot
    # Only one reader reloads; the others use the stale snapshot meanwhile (the very
    # first readers have none, and wait).
    if not _reload_lock.acquire(blocking=snapshot is None):
        return snapshot
    try:
        if _snapshot is not snapshot and _snapshot is not None:
            return _snapshot  # another thread reloaded while this one waited
        return _reload()
    finally:
        _reload_lock.release()


def invalidate():
    """Forget the snapshot: the next reader reloads it."""
    global _snapshot, _generation
    _generation += 1
    _snapshot = None


def policy(codeunit_id):
    """The administrator's policy for ``codeunit_id`` (enabled, no defaults if no row)."""
    return current().codeunits.get(codeunit_id, _ENABLED)


def bindings_for(page_name):
    """The enabled bindings of page ``page_name``, in id order."""
    return current().bindings.get(page_name, ())


def apply_defaults(codeunit_id, timeout, error_level):
    """(timeout, error level) with the administrator's defaults for what page code
    left out: ``timeout`` None, ``error_level`` the verbs' default object."""
    rules = policy(codeunit_id)
    if timeout is None and rules.default_timeout_ms:
        timeout = rules.default_timeout_ms
    if error_level is DEFAULT_ERROR_LEVEL:
        error_level = rules.default_error_level or "error"
    return timeout, error_level


def _reload():
    global _snapshot
    from tasks.bindings import Binding

    generation = _generation
    from tasks.models import CodeunitBinding, CodeunitSetting

    try:
        codeunits = {
            row["id"]: CodeunitPolicy(row["enabled"], row["default_timeout_ms"], row["default_error_level"])
            for row in CodeunitSetting.objects.values("id", "enabled", "default_timeout_ms", "default_error_level")
        }
        bindings = {}
        for row in CodeunitBinding.objects.filter(enabled=True).order_by("id"):
            binding = Binding.from_row(row)
            if binding is not None:
                bindings.setdefault(row.page, []).append(binding)
    except DatabaseError as exc:
        # Before ``migrate`` the tables do not exist: every codeunit is enabled and
        # no page has bindings, as before this feature.
        logger.warning("codeunit_settings_unavailable error=%r", exc)
        codeunits, bindings = {}, {}
    # Saved meanwhile: use what was read, but read again on the next call.
    loaded_at = time.monotonic() if generation == _generation else float("-inf")
    _snapshot = Snapshot(loaded_at, codeunits, {page: tuple(items) for page, items in bindings.items()})
    return _snapshot


def sync_codeunits(using="default"):
    """Make a row for every registered codeunit and refresh the rows' name,
    description and implementation from the code. Rows of codeunits that left the
    code stay (the admin shows them missing); administrators' choices are kept."""
    from tasks.codeunits import registered_codeunits
    from tasks.models import CodeunitSetting

    rows = CodeunitSetting.objects.using(using).in_bulk()
    new, changed = [], []
    for unit in registered_codeunits():
        row = rows.get(unit.id)
        values = {"name": unit.name[:250], "description": unit.description, "implementation": unit.implementation[:300]}
        if row is None:
            new.append(CodeunitSetting(id=unit.id, **values))
        elif any(getattr(row, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            changed.append(row)
    if new:
        CodeunitSetting.objects.using(using).bulk_create(new, ignore_conflicts=True)
    if changed:
        CodeunitSetting.objects.using(using).bulk_update(changed, ["name", "description", "implementation"])
    invalidate()
    return len(new), len(changed)
