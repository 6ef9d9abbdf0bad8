"""The messages that cross the channel layer between parent sessions and workers.

Defined once, here: each is a frozen dataclass with ``message()`` to build the layer
dict and ``from_message()`` to parse one. Channels turns the dotted ``type`` into the
handler name (``task.run`` -> ``task_run``).

    parent --task.run-->     TASK_CHANNEL (any worker with a free child session)
    parent <--task.started-- worker      (names the worker's own channel)
    parent --task.cancel-->  that worker's own channel, or WORKERS_GROUP while
                             no worker has reported the task (still in the layer)
    parent <--task.outcome-- worker      (completed, failed or cancelled)
    parent --task.heartbeat-> each worker running its tasks, every
                             ``heartbeat_ms`` while they run (liveness)

A task is known everywhere by (session_id, task_id): task ids are only unique
within one parent session (S5).

Liveness (docs/protocol.md): a ``task.run`` with ``heartbeat_ms`` > 0 promises a
``task.heartbeat`` naming the task at least that often while it runs. A worker
that hears nothing of a task for ``MISSED_HEARTBEATS`` intervals cancels it: its
page's process is gone (a Daphne process killed), and nobody waits for it.
"""

from dataclasses import dataclass, field

from tasks.errors import TaskError

#: Every worker joins this group, for cancels of tasks no worker has reported yet.
WORKERS_GROUP = "bcpages.workers"
#: Sent by a TaskWorker to its own consumer when it starts (joins WORKERS_GROUP).
WORKER_START = "worker.start"

TASK_RUN = "task.run"
TASK_STARTED = "task.started"
TASK_CANCEL = "task.cancel"
TASK_OUTCOME = "task.outcome"
TASK_HEARTBEAT = "task.heartbeat"

#: What a channel layer raises when its server is unreachable (Redis down or
#: restarting); both sides degrade instead of dying (docs/deployment.md).
try:
    from redis.exceptions import ConnectionError as _RedisConnectionError, TimeoutError as _RedisTimeoutError
except ImportError:  # the embedded default needs no Redis client
    LAYER_ERRORS = (ConnectionError,)
else:
    LAYER_ERRORS = (ConnectionError, _RedisConnectionError, _RedisTimeoutError)

#: How often a parent sends ``task.heartbeat`` for its running tasks, by default (ms).
HEARTBEAT_MS = 5_000
#: A worker cancels a task after this many intervals without hearing of it.
MISSED_HEARTBEATS = 3

COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
OUTCOMES = (COMPLETED, FAILED, CANCELLED)


@dataclass(frozen=True)
class TaskRun:
    session_id: str
    task_id: int
    codeunit_id: int
    parameters: dict
    timeout_ms: int
    reply_channel: str = ""
    #: The parent's heartbeat interval; 0: it sends none (the task never goes silent).
    heartbeat_ms: int = 0

    @property
    def key(self):
        return (self.session_id, self.task_id)

    def message(self):
        message = {
            "type": TASK_RUN,
            "session_id": self.session_id,
            "task_id": self.task_id,
            "codeunit_id": self.codeunit_id,
            "parameters": dict(self.parameters),
            "timeout_ms": self.timeout_ms,
            "reply_channel": self.reply_channel,
        }
        if self.heartbeat_ms:
            message["heartbeat_ms"] = self.heartbeat_ms
        return message

    @classmethod
    def from_message(cls, message):
        return cls(
            session_id=str(message["session_id"]),
            task_id=int(message["task_id"]),
            codeunit_id=int(message["codeunit_id"]),
            parameters=dict(message["parameters"]),
            timeout_ms=int(message["timeout_ms"]),
            reply_channel=str(message["reply_channel"]),
            heartbeat_ms=int(message.get("heartbeat_ms") or 0),
        )


@dataclass(frozen=True)
class TaskStarted:
    session_id: str
    task_id: int
    worker_channel: str

    def message(self):
        return {
            "type": TASK_STARTED,
            "session_id": self.session_id,
            "task_id": self.task_id,
            "worker_channel": self.worker_channel,
        }

    @classmethod
    def from_message(cls, message):
        return cls(str(message["session_id"]), int(message["task_id"]), str(message["worker_channel"]))


@dataclass(frozen=True)
class TaskCancel:
    session_id: str
    task_id: int

    @property
    def key(self):
        return (self.session_id, self.task_id)

    def message(self):
        return {"type": TASK_CANCEL, "session_id": self.session_id, "task_id": self.task_id}

    @classmethod
    def from_message(cls, message):
        return cls(str(message["session_id"]), int(message["task_id"]))


@dataclass(frozen=True)
class TaskHeartbeat:
    """The parent of ``task_ids`` is still there (sent to the worker running them)."""

    session_id: str
    task_ids: tuple

    @property
    def keys(self):
        return [(self.session_id, task_id) for task_id in self.task_ids]

    def message(self):
        return {"type": TASK_HEARTBEAT, "session_id": self.session_id, "task_ids": list(self.task_ids)}

    @classmethod
    def from_message(cls, message):
        return cls(str(message["session_id"]), tuple(int(task_id) for task_id in message["task_ids"]))


@dataclass(frozen=True)
class TaskOutcome:
    """How a child session ended: ``completed`` with results, ``failed`` with an error,
    or ``cancelled``."""

    session_id: str
    task_id: int
    state: str
    results: dict = field(default_factory=dict)
    error: TaskError | None = None
    duration_ms: float = 0.0
    #: The worker that ran it (its own channel), set by the worker when it sends.
    worker_channel: str = ""

    def __post_init__(self):
        if self.state not in OUTCOMES:
            raise ValueError(f"Outcome state {self.state!r} is not one of {', '.join(OUTCOMES)}.")
        if self.state == FAILED and self.error is None:
            raise ValueError("A failed outcome needs an error.")

    def message(self):
        message = {
            "type": TASK_OUTCOME,
            "session_id": self.session_id,
            "task_id": self.task_id,
            "state": self.state,
            "results": dict(self.results),
            "error": self.error.as_dict() if self.error else None,
            "duration_ms": self.duration_ms,
        }
        if self.worker_channel:
            message["worker_channel"] = self.worker_channel
        return message

    @classmethod
    def from_message(cls, message):
        error = message.get("error")
        return cls(
            session_id=str(message["session_id"]),
            task_id=int(message["task_id"]),
            state=str(message["state"]),
            results=dict(message.get("results") or {}),
            error=TaskError.from_dict(error) if error else None,
            duration_ms=float(message.get("duration_ms", 0.0)),
            worker_channel=str(message.get("worker_channel") or ""),
        )
