"""The websocket protocol between the browser and a parent session (DESIGN.md).

Browser frames are parsed into frozen dataclasses here, and server frames are
built here; nothing else touches the JSON. ``static/bcpages/protocol.js`` mirrors
these names.
"""

import json
from dataclasses import dataclass, field

# Browser -> server
PAGE_OPEN = "page.open"
PAGE_NAVIGATE = "page.navigate"
PAGE_REFRESH = "page.refresh"
PAGE_ACTION = "page.action"
PAGE_CLOSE = "page.close"
# Server -> browser
PAGE_STATE = "page.state"
FIELD_UPDATE = "field.update"
TASK_STATE = "task.state"
NOTIFICATION = "notification"
DIALOG = "dialog"
ERROR = "error"

STEPS = ("next", "previous", "first", "last")
MAX_FRAME_CHARS = 64 * 1024

# Error codes of the ``error`` frame.
INVALID_FRAME = "InvalidFrame"
UNKNOWN_FRAME_TYPE = "UnknownFrameType"
PAGE_NOT_OPEN = "PageNotOpen"
PAGE_ALREADY_OPEN = "PageAlreadyOpen"
PAGE_CLOSED = "PageClosed"
UNKNOWN_PAGE = "UnknownPage"
UNKNOWN_RECORD = "UnknownRecord"
UNKNOWN_ACTION = "UnknownAction"
INVALID_ACTION_ARGS = "InvalidActionArguments"
NAVIGATION_NOT_ALLOWED = "NavigationNotAllowed"


class FrameError(Exception):
    """A frame the server cannot accept; becomes an ``error`` frame, never a crash."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code = code
        self.text = text


@dataclass(frozen=True)
class PageOpen:
    page: str
    record: str


@dataclass(frozen=True)
class PageNavigate:
    record: str | None = None
    step: str | None = None


@dataclass(frozen=True)
class PageRefresh:
    pass


@dataclass(frozen=True)
class PageAction:
    action: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PageClose:
    pass


def _string(frame, key, *, required=True):
    value = frame.get(key)
    if value is None and not required:
        return None
    if value is None:
        raise FrameError(INVALID_FRAME, f"A {frame['type']!r} frame needs a {key!r} field.")
    if not isinstance(value, str):
        raise FrameError(
            INVALID_FRAME, f"Field {key!r} of a {frame['type']!r} frame must be a string, not {type(value).__name__}."
        )
    return value


def parse(text):
    """Parse one text frame from the browser, or raise FrameError."""
    if text is None:
        raise FrameError(INVALID_FRAME, "Frames must be JSON text; a binary frame was received.")
    if len(text) > MAX_FRAME_CHARS:
        raise FrameError(INVALID_FRAME, f"A frame of {len(text)} characters is over the {MAX_FRAME_CHARS} allowed.")
    try:
        frame = json.loads(text)
    except ValueError:
        raise FrameError(INVALID_FRAME, f"Frame {text[:60]!r} is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise FrameError(INVALID_FRAME, f"A frame must be a JSON object, not {type(frame).__name__}.")
    kind = frame.get("type")
    if not isinstance(kind, str):
        what = "has no 'type' field" if kind is None else f"has a 'type' of {type(kind).__name__}, not a string"
        raise FrameError(
            INVALID_FRAME, f"A frame needs a string 'type' (page.open, page.navigate, page.refresh, page.action, page.close); this one {what}."
        )
    if kind == PAGE_OPEN:
        return PageOpen(_string(frame, "page"), _string(frame, "record"))
    if kind == PAGE_NAVIGATE:
        record, step = _string(frame, "record", required=False), _string(frame, "step", required=False)
        if (record is None) == (step is None):
            given = "both" if record is not None else "neither"
            raise FrameError(INVALID_FRAME, f"A 'page.navigate' frame needs either 'record' or 'step'; it has {given}.")
        if step is not None and step not in STEPS:
            raise FrameError(INVALID_FRAME, f"Step {step!r} is not one of {', '.join(STEPS)}.")
        return PageNavigate(record=record, step=step)
    if kind == PAGE_REFRESH:
        return PageRefresh()
    if kind == PAGE_ACTION:
        args = frame.get("args", {})
        if not isinstance(args, dict):
            raise FrameError(INVALID_FRAME, f"Field 'args' of a 'page.action' frame must be an object, not {type(args).__name__}.")
        return PageAction(_string(frame, "action"), args)
    if kind == PAGE_CLOSE:
        return PageClose()
    raise FrameError(
        UNKNOWN_FRAME_TYPE,
        f"Frame type {kind!r} is unknown; expected one of page.open, page.navigate, page.refresh, page.action, page.close.",
    )


def dumps(frame):
    return json.dumps(frame, separators=(",", ":"))


def page_state(page, record, fields, field_states, url=None, caption="", session=""):
    frame = {"type": PAGE_STATE, "page": page, "record": record, "fields": fields, "field_states": field_states}
    if session:
        # The parent session's id, as workers' logs and the task log name it.
        frame["session"] = session
    if url is not None:
        frame["url"] = url
    if caption:
        frame["caption"] = caption
    return frame


def field_update(record, fields, field_states):
    return {"type": FIELD_UPDATE, "record": record, "fields": fields, "field_states": field_states}


def task_state(task):
    frame = {
        "type": TASK_STATE,
        "task_id": task.task_id,
        "codeunit": task.codeunit_id,
        "codeunit_name": task.codeunit_name,
        "record": task.record,
        "state": task.state,
    }
    if task.duration_ms is not None and not task.live:
        frame["duration_ms"] = task.duration_ms
    if task.error is not None:
        frame["code"] = task.error.code
        frame["text"] = task.error.text
    return frame


def notification(level, text, task_id=None):
    frame = {"type": NOTIFICATION, "level": level, "text": text}
    if task_id is not None:
        frame["task_id"] = task_id
    return frame


def dialog(text):
    return {"type": DIALOG, "text": text}


def error(code, text):
    return {"type": ERROR, "code": code, "text": text}
