"""The engine's settings: one namespaced dict, ``settings.BCPAGES``, read through
:func:`get`.

Read lazily, on every call, so that ``override_settings(BCPAGES=...)`` in tests
takes effect at once. Values are checked at start-up by ``tasks.checks``.
"""

from django.conf import settings

DEFAULTS = {
    # S12: per parent session, at most this many tasks run at once ...
    "MAX_RUNNING": 5,
    # ... and at most this many wait in its FIFO queue (the waiting ones only).
    "MAX_QUEUED": 100,
    # S9, S10: milliseconds, counted from the moment a task starts running.
    "DEFAULT_TIMEOUT_MS": 120_000,
    "MAX_TIMEOUT_MS": 600_000,
    # S25: how long past its timeout a parent waits for a task's outcome before it
    # declares the task lost.
    "LOST_GRACE_MS": 2_000,
    # S16: after a cancel or timeout, how long a codeunit gets to stop by itself
    # before its child process is killed.
    "CANCEL_GRACE_MS": 200,
    # Child sessions a worker process runs at once (one process each).
    "CHILD_SESSIONS": 4,
    # Address space limit of one child process, in MiB (0: no limit).
    "CHILD_MEMORY_LIMIT_MB": 1024,
    # The channel that workers receive tasks on (``runworker bcpages.tasks``).
    "TASK_CHANNEL": "bcpages.tasks",
    # Start a worker inside the ASGI process. None: only with the in-memory layer,
    # where a separate ``runworker`` process could never see the messages.
    "EMBEDDED_WORKER": None,
    # Extra modules of codeunits to import at start-up, besides every app's
    # ``codeunits`` module (the tests add ``tasks.catalogue``).
    "CODEUNIT_MODULES": [],
    # The playground page: "on", "staff" or "off".
    "PLAYGROUND": "on",
    # Days the task log keeps its rows (``manage.py prune_task_log``).
    "TASK_LOG_RETENTION_DAYS": 30,
}


def get(name):
    """Return the setting ``name`` from ``settings.BCPAGES``, or its default."""
    if name not in DEFAULTS:
        raise KeyError(f"{name!r} is not a bcpages setting; known: {', '.join(sorted(DEFAULTS))}.")
    return getattr(settings, "BCPAGES", {}).get(name, DEFAULTS[name])


def embedded_worker_enabled():
    """True when this ASGI process must run its own worker (the embedded default)."""
    configured = get("EMBEDDED_WORKER")
    if configured is not None:
        return bool(configured)
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    return backend.endswith("InMemoryChannelLayer")
