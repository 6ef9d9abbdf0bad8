"""The parent session's task queue: plain synchronous bookkeeping, no I/O.

Owns, for one parent session, every task from enqueue to its one outcome (S1):
the 5-running limit and the 100-waiting FIFO (S12, S13), cancellation (S8), the
record a task belongs to (S17), and the watchdog deadlines (S25). The parent
session asks it what to send; it never sends anything itself.

"Running" here means admitted to one of the parent's running slots and handed to
the channel layer; the worker reports when its child session really starts
(``started``), and the watchdog then allows the task its timeout plus a grace.
"""

import collections
import time
from dataclasses import dataclass, field

from tasks import conf
from tasks.errors import LOST, ChildSessionsMaxQueueLength, TaskError
from tasks.messages import CANCELLED, FAILED, TaskCancel, TaskOutcome, TaskRun

QUEUED = "queued"
RUNNING = "running"
LIVE_STATES = (QUEUED, RUNNING)
# How many ended tasks a session remembers, for its task panel and for S8.
ENDED_HISTORY = 500


@dataclass
class Task:
    """One enqueued run of a codeunit, as its parent session sees it."""

    task_id: int
    codeunit_id: int
    codeunit_name: str
    parameters: dict
    timeout_ms: int
    error_level: str
    record: str
    enqueued_at: float
    state: str = QUEUED
    #: Admitted to one of the parent's running slots and handed to the layer.
    started_at: float | None = None
    #: A worker's child session really began it (``task.started``); None until then,
    #: and for tasks run synchronously (the JSON API, the test API).
    on_worker_at: float | None = None
    ended_at: float | None = None
    worker_channel: str | None = None
    deadline: float | None = None
    results: dict = field(default_factory=dict)
    error: TaskError | None = None

    @property
    def live(self):
        return self.state in LIVE_STATES

    @property
    def began_at(self):
        """When the task really began: its child session's start when a worker
        reported it, else its admission (synchronous runs start at once)."""
        return self.on_worker_at if self.on_worker_at is not None else self.started_at

    @property
    def duration_ms(self):
        began = self.began_at
        if began is None:
            return None
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        return round((end - began) * 1000, 1)


class TaskQueue:
    def __init__(self, session_id, *, clock=time.monotonic, pickup_timeout_s=60.0, heartbeat_ms=0):
        self.session_id = session_id
        self.clock = clock
        # Liveness: the parent promises workers a task.heartbeat this often (0: none).
        self.heartbeat_ms = heartbeat_ms
        # A task handed to the layer but never picked up is lost once the layer has
        # expired the message (channel layers drop unread messages after ``expiry``).
        self.pickup_timeout_s = pickup_timeout_s
        self.max_running = conf.get("MAX_RUNNING")
        self.max_queued = conf.get("MAX_QUEUED")
        self.lost_grace_s = conf.get("LOST_GRACE_MS") / 1000
        self.tasks: dict[int, Task] = {}
        # The live (queued or running) tasks, in enqueue order: ``tasks`` also keeps
        # up to ENDED_HISTORY ended ones, and the consumer asks for the running tasks
        # and the next deadline after every message, so those walks skip the history.
        self._live: dict[int, Task] = {}
        self._waiting: collections.deque[int] = collections.deque()
        self._ended: collections.deque[int] = collections.deque()
        self._last_id = 0

    # Counting --------------------------------------------------------------
    def live(self):
        return list(self._live.values())

    def running(self):
        return [task for task in self._live.values() if task.state == RUNNING]

    def waiting_count(self):
        return len(self._waiting)

    # Enqueue and admit (S5, S12, S13) -------------------------------------
    def enqueue(self, *, codeunit_id, codeunit_name, parameters, timeout_ms, error_level, record):
        if len(self._live) >= self.max_running + self.max_queued:
            raise ChildSessionsMaxQueueLength(
                f"Codeunit {codeunit_id} was not enqueued: this page already has {self.max_running} "
                f"tasks running and {self.max_queued} waiting, the most allowed. Wait for tasks to end "
                f"or cancel some."
            )
        self._last_id += 1
        task = Task(
            task_id=self._last_id,
            codeunit_id=codeunit_id,
            codeunit_name=codeunit_name,
            parameters=dict(parameters),
            timeout_ms=timeout_ms,
            error_level=error_level,
            record=record,
            enqueued_at=self.clock(),
        )
        self.tasks[task.task_id] = task
        self._live[task.task_id] = task
        self._waiting.append(task.task_id)
        return task

    def admit(self, reply_channel):
        """Move waiting tasks into free running slots, in enqueue order; return their runs."""
        runs = []
        running = len(self.running())
        while self._waiting and running < self.max_running:
            task = self.tasks[self._waiting.popleft()]
            task.state = RUNNING
            task.started_at = self.clock()
            task.deadline = task.started_at + self.pickup_timeout_s + self.lost_grace_s
            running += 1
            runs.append(
                TaskRun(
                    self.session_id, task.task_id, task.codeunit_id, task.parameters, task.timeout_ms, reply_channel,
                    heartbeat_ms=self.heartbeat_ms,
                )
            )
        return runs

    # Messages from the worker ---------------------------------------------
    def started(self, task_id, worker_channel):
        """The worker's child session began ``task_id``. Returns the task, or a
        TaskCancel to send back when the task was cancelled meanwhile, or when
        another worker reported it first: channels_redis can deliver a message on
        a channel that several processes receive from twice (its issue 163); the
        first report wins and the copy is stopped."""
        task = self.tasks.get(task_id)
        if task is None or task.state != RUNNING:
            return TaskCancel(self.session_id, task_id)
        if task.worker_channel is not None and task.worker_channel != worker_channel:
            return TaskCancel(self.session_id, task_id)
        task.worker_channel = worker_channel
        task.on_worker_at = self.clock()
        task.deadline = task.on_worker_at + task.timeout_ms / 1000 + self.lost_grace_s
        return task

    def finish(self, outcome: TaskOutcome):
        """Record ``outcome``; returns the task, or None when the task is not live any
        more (cancelled, lost, unknown): a late result is dropped (S2, S17)."""
        task = self.tasks.get(outcome.task_id)
        if task is None or task.state != RUNNING:
            return None
        if outcome.worker_channel and task.worker_channel and outcome.worker_channel != task.worker_channel:
            return None  # the outcome of a copy that was stopped (see ``started``)
        if outcome.state == CANCELLED:
            # Only the parent cancels; a worker reporting "cancelled" on its own
            # (shutting down) means the task cannot complete here.
            self._end(task, FAILED, error=TaskError(LOST, "The worker stopped before the task ended."))
        else:
            self._end(task, outcome.state, results=outcome.results, error=outcome.error)
        return task

    # Cancel (S8, S14, S15) -------------------------------------------------
    def cancel(self, task_id):
        """Cancel a live task. Returns (True, task) or (False, None); never raises."""
        task = self.tasks.get(task_id) if isinstance(task_id, int) else None
        if task is None or not task.live:
            return False, None
        if task.state == QUEUED:
            self._waiting.remove(task_id)
        self._end(task, CANCELLED)
        return True, task

    def cancel_all(self):
        """Cancel every live task, in id order; returns them."""
        cancelled = []
        for task_id in sorted(self._live):
            done, task = self.cancel(task_id)
            if done:
                cancelled.append(task)
        return cancelled

    # Liveness -------------------------------------------------------------
    def heartbeats(self):
        """{worker channel: [task ids]} of the running tasks a worker has reported:
        one ``task.heartbeat`` per worker keeps them alive there."""
        by_worker = {}
        for task in self.running():
            if task.worker_channel is not None:
                by_worker.setdefault(task.worker_channel, []).append(task.task_id)
        return by_worker

    # Watchdog (S25) -------------------------------------------------------
    def next_deadline(self):
        deadlines = [task.deadline for task in self._live.values() if task.state == RUNNING]
        return min(deadlines) if deadlines else None

    def expire(self, now=None):
        """Fail every running task whose deadline passed with ChildSessionLost."""
        now = self.clock() if now is None else now
        lost = []
        for task in self.running():
            if task.deadline is not None and task.deadline <= now:
                if task.worker_channel is None:
                    text = "No worker picked up the task before the channel layer dropped it."
                else:
                    text = (
                        f"The worker never reported an outcome within the task's timeout "
                        f"({task.timeout_ms} ms) plus {int(self.lost_grace_s * 1000)} ms."
                    )
                self._end(task, FAILED, error=TaskError(LOST, text))
                lost.append(task)
        return lost

    def lose(self, task_id, text):
        """Fail a running task at once (its message could not be sent)."""
        task = self.tasks.get(task_id)
        if task is not None and task.live:
            self._end(task, FAILED, error=TaskError(LOST, text))
        return task

    # ---------------------------------------------------------------------
    def _end(self, task, state, *, results=None, error=None):
        task.state = state
        task.ended_at = self.clock()
        task.deadline = None
        task.results = dict(results or {})
        task.error = error
        self._live.pop(task.task_id, None)
        self._ended.append(task.task_id)
        while len(self._ended) > ENDED_HISTORY:
            self.tasks.pop(self._ended.popleft(), None)

