"""Error codes and the exceptions and values that carry them.

Every failure has a stable code (Business Central's where it has one) and a
sentence that names the value at fault. Exceptions never cross a process or the
channel layer as objects: they cross as a :class:`TaskError` (code, text, stack).
"""

from dataclasses import dataclass

# Enqueue refused (S7).
UNKNOWN_CODEUNIT = "UnknownCodeunit"
INVALID_PARAMETERS = "InvalidTaskParameters"
INVALID_TIMEOUT = "InvalidTaskTimeout"
INVALID_ERROR_LEVEL = "InvalidErrorLevel"
MAX_QUEUE_LENGTH = "ChildSessionsMaxQueueLength"
# A task failed (S11, S18, S23-S25, S6).
TASK_TIMEOUT = "ChildSessionTaskTimeout"
READ_ONLY = "ChildSessionReadOnly"
CRASHED = "ChildSessionCrashed"
LOST = "ChildSessionLost"
INVALID_RESULT = "InvalidTaskResult"
# A trigger asked for a dialog (S31).
CALLBACK_UI_NOT_ALLOWED = "CallbackUINotAllowed"

TIMEOUT_TEXT = "Child Session task was terminated because of a timeout."


@dataclass(frozen=True)
class TaskError:
    """What the error trigger receives (S27): a code, a text and the call stack."""

    code: str
    text: str
    call_stack: str = ""

    def as_dict(self):
        return {"code": self.code, "text": self.text, "call_stack": self.call_stack}

    @classmethod
    def from_dict(cls, data):
        return cls(str(data["code"]), str(data["text"]), str(data.get("call_stack", "")))


class PageBackgroundTaskError(Exception):
    """Base of the engine's own exceptions; ``code`` is the stable error code."""

    code = "PageBackgroundTaskError"

    def __init__(self, text):
        super().__init__(text)
        self.text = text

    def as_task_error(self, call_stack=""):
        return TaskError(self.code, self.text, call_stack)


class UnknownCodeunit(PageBackgroundTaskError):
    code = UNKNOWN_CODEUNIT


class InvalidTaskParameters(PageBackgroundTaskError, TypeError):
    code = INVALID_PARAMETERS


class InvalidTaskTimeout(PageBackgroundTaskError, ValueError):
    code = INVALID_TIMEOUT


class InvalidErrorLevel(PageBackgroundTaskError, ValueError):
    code = INVALID_ERROR_LEVEL


class ChildSessionsMaxQueueLength(PageBackgroundTaskError):
    code = MAX_QUEUE_LENGTH


class InvalidTaskResult(PageBackgroundTaskError, TypeError):
    code = INVALID_RESULT


class ChildSessionReadOnly(PageBackgroundTaskError):
    code = READ_ONLY


class CallbackUINotAllowed(PageBackgroundTaskError):
    code = CALLBACK_UI_NOT_ALLOWED
