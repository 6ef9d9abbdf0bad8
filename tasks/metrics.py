"""Prometheus metrics of this process, served at ``/metrics`` (text format 0.0.4).

Per process: each Daphne process counts the parent sessions it holds and the
tasks they ended since the process started. Scrape every process (a counter
restarts at zero with its process, which Prometheus' ``rate()`` expects).

- ``bcpages_parent_sessions_open``   gauge: open pages (websockets) here
- ``bcpages_child_sessions_active``  gauge: tasks of those pages that a worker's
  child session runs (the worker reported ``task.started``)
- ``bcpages_tasks_dispatched``       gauge: tasks of those pages holding one of
  their page's running slots, not yet taken by a child session (all busy)
- ``bcpages_tasks_queued``           gauge: tasks of those pages waiting in their
  page's queue for a running slot (S12)
- ``bcpages_tasks_total{codeunit, outcome}`` counter: ended tasks (every parent
  session of this process, the JSON page API's too)
- ``bcpages_task_duration_seconds``  histogram: from start to end, tasks that started
- ``bcpages_task_log_buffered``      gauge: task log rows waiting to be written

Readable by staff users, or from the machine itself (``REMOTE_ADDR`` 127.0.0.1 or
::1; behind a proxy on the same host that means everyone who reaches the proxy:
restrict ``/metrics`` there).
"""

import collections
import threading
import weakref

from django.http import HttpResponse, HttpResponseForbidden

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LOCAL_ADDRESSES = ("127.0.0.1", "::1")

_lock = threading.Lock()
_tasks_total = collections.Counter()  # (codeunit id, outcome) -> count
_bucket_counts = [0] * len(BUCKETS)
_duration_sum = 0.0
_duration_count = 0
_sessions = weakref.WeakSet()
# Outcome state -> outcomes a parent session dropped because their task had already
# ended (cancelled, lost). Not in /metrics: bench/views.py reads it (scenario 4).
_late_outcomes_dropped = collections.Counter()


def task_ended(task):
    """Count ``task``, which just reached its terminal state."""
    global _duration_sum, _duration_count
    duration = task.duration_ms
    with _lock:
        _tasks_total[(task.codeunit_id, task.state)] += 1
        if duration is not None:
            seconds = duration / 1000
            _duration_sum += seconds
            _duration_count += 1
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    _bucket_counts[index] += 1
                    break


def late_outcome_dropped(state):
    """Count an outcome that arrived after its task had ended, and was dropped."""
    with _lock:
        _late_outcomes_dropped[state] += 1


def late_outcomes_dropped():
    """{outcome state: count} of the dropped late outcomes since this process started."""
    with _lock:
        return dict(_late_outcomes_dropped)


def session_opened(session):
    with _lock:
        _sessions.add(session)


def session_closed(session):
    with _lock:
        _sessions.discard(session)


def render():
    """The metrics in Prometheus' text exposition format."""
    from tasks import tasklog

    with _lock:
        sessions = [s for s in _sessions if not s.closed]
        totals = sorted(_tasks_total.items())
        buckets, total_sum, total_count = list(_bucket_counts), _duration_sum, _duration_count
    running = dispatched = queued = 0
    for session in sessions:
        # A snapshot of the dict: its owner's thread may change it meanwhile.
        for task in list(session.queue.tasks.values()):
            if task.state == "running":
                if task.worker_channel:
                    running += 1
                else:
                    dispatched += 1
            elif task.state == "queued":
                queued += 1
    lines = []

    def metric(name, kind, help_text, samples):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            label_text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels)
            lines.append(f"{name}{suffix}{{{label_text}}} {_number(value)}" if labels else f"{name}{suffix} {_number(value)}")

    metric("bcpages_parent_sessions_open", "gauge", "Open parent sessions (pages on a websocket) in this process.",
           [("", (), len(sessions))])
    metric("bcpages_child_sessions_active", "gauge", "Tasks of this process's parent sessions running in a child session.",
           [("", (), running)])
    metric("bcpages_tasks_dispatched", "gauge", "Tasks of this process's parent sessions waiting for a free child session.",
           [("", (), dispatched)])
    metric("bcpages_tasks_queued", "gauge", "Tasks of this process's parent sessions queued in their page (S12).",
           [("", (), queued)])
    metric("bcpages_tasks_total", "counter", "Tasks ended in this process's parent sessions, by codeunit and outcome.",
           [("", (("codeunit", str(codeunit)), ("outcome", outcome)), count) for (codeunit, outcome), count in totals])
    cumulative, samples = 0, []
    for bound, count in zip(BUCKETS, buckets):
        cumulative += count
        samples.append(("_bucket", (("le", _number(bound)),), cumulative))
    samples += [("_bucket", (("le", "+Inf"),), total_count), ("_sum", (), total_sum), ("_count", (), total_count)]
    metric("bcpages_task_duration_seconds", "histogram", "Task duration from start to end (tasks that started).", samples)
    metric("bcpages_task_log_buffered", "gauge", "Task log rows waiting to be written.", [("", (), tasklog.pending())])
    return "\n".join(lines) + "\n"


def metrics_view(request):
    user = getattr(request, "user", None)
    staff = bool(user and user.is_active and user.is_staff)
    if not staff and request.META.get("REMOTE_ADDR") not in LOCAL_ADDRESSES:
        return HttpResponseForbidden(
            "Metrics are for staff users or for requests from this machine; "
            f"{request.META.get('REMOTE_ADDR')!r} is neither.\n", content_type="text/plain; charset=utf-8"
        )
    return HttpResponse(render(), content_type=CONTENT_TYPE)


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value):
    if isinstance(value, float):
        return repr(value) if value != int(value) else f"{value:.1f}"
    return str(value)
