"""Synchronous execution (S34): drive a parent session without a websocket.

Every task a page enqueues runs right away in a child session (read-only, with its
timeout) and its trigger runs before the next step, so the result holds the final
field values. Tasks enqueued by a completion or error trigger (an auto-refresh, a
retry) are not chased: they end cancelled, or a refresh would never end.
"""

from bcpages import frames
from bcpages.frames import FrameError
from bcpages.pages import UnknownPage, UnknownRecord
from bcpages.session import ParentSession
from tasks.child_session import run_sync


def settle(session, runner=run_sync):
    """Run the session's admitted tasks until none is left to run; returns the frames."""
    sent = []
    while True:
        effects = session.drain()
        runs = [effect[1] for effect in effects if effect[0] == "run"]
        sent.extend(effect[1] for effect in effects if effect[0] == "frame")
        runs = [run for run in runs if run.task_id not in session.enqueued_by_task_triggers]
        if not runs:
            return sent
        for run in runs:
            session.task_outcome(runner(run))


def run_page(page_name, record_key, user=None):
    """Open ``page_name`` on ``record_key``, run its tasks, and return the page as a dict."""
    session = ParentSession(user=user)
    try:
        session.open(page_name, record_key)
    except FrameError as exc:
        if exc.code == frames.UNKNOWN_PAGE:
            raise UnknownPage(exc.text) from None
        if exc.code == frames.UNKNOWN_RECORD:
            raise UnknownRecord(exc.text) from None
        raise
    sent = settle(session)
    session.close()
    sent.extend(effect[1] for effect in session.drain() if effect[0] == "frame")
    page = session.page
    return {
        "page": page.name,
        "record": session.record,
        "fields": page.field_values(),
        "field_states": page.field_states(),
        "tasks": [
            {
                "task_id": task.task_id,
                "codeunit": task.codeunit_id,
                "state": task.state,
                "code": task.error.code if task.error else None,
                "text": task.error.text if task.error else None,
            }
            for task in sorted(session.queue.tasks.values(), key=lambda t: t.task_id)
        ],
        "notifications": [
            {"level": frame["level"], "text": frame["text"]} for frame in sent if frame["type"] == frames.NOTIFICATION
        ],
    }
