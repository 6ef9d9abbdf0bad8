"""The page background task engine.

Public API (everything else is imported by its module path):

    from tasks import codeunit, is_child_session, TaskError
"""

from tasks.codeunits import codeunit
from tasks.errors import TaskError
from tasks.readonly import is_child_session

__all__ = ["codeunit", "is_child_session", "TaskError"]
