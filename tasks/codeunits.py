"""The codeunit registry: integer ids to the Python callables that tasks run.

A codeunit is a function that takes its parameters (a ``dict[str, str]``) and
returns its result (a ``dict[str, str]``, or None for an empty result). It runs in
a child session: read-only, with a timeout, and no way back to the page (S18-S21)::

    from tasks import codeunit

    @codeunit(50100, "PBT Wait", "Waits the given milliseconds and reports when.")
    def pbt_wait(parameters):
        ...
        return {"started": ..., "finished": ...}

Apps declare codeunits in a ``codeunits`` module; ``tasks`` imports every app's
``codeunits`` module at start-up, in the parent and in each child process, so an
id means the same function everywhere.
"""

from dataclasses import dataclass
from typing import Callable

from tasks.errors import UnknownCodeunit

_registry: dict[int, "Codeunit"] = {}


@dataclass(frozen=True)
class Codeunit:
    id: int
    name: str
    function: Callable
    description: str = ""

    @property
    def implementation(self):
        """The dotted path of the function, as shown to administrators."""
        return f"{self.function.__module__}.{self.function.__qualname__}"


def codeunit(codeunit_id, name, description=""):
    """Register the decorated function as codeunit ``codeunit_id``."""
    if isinstance(codeunit_id, bool) or not isinstance(codeunit_id, int) or codeunit_id <= 0:
        raise ValueError(f"Codeunit id {codeunit_id!r} must be a positive integer.")

    def register(function):
        existing = _registry.get(codeunit_id)
        unit = Codeunit(codeunit_id, name, function, description or (function.__doc__ or "").strip())
        if existing is not None and existing.implementation != unit.implementation:
            raise ValueError(
                f"Codeunit {codeunit_id} is registered twice: {existing.implementation} and {unit.implementation}."
            )
        _registry[codeunit_id] = unit
        return function

    return register


def get_codeunit(codeunit_id):
    """The registered codeunit ``codeunit_id``; UnknownCodeunit if there is none."""
    try:
        return _registry[codeunit_id]
    except (KeyError, TypeError):
        raise UnknownCodeunit(f"Codeunit {codeunit_id!r} is not registered.") from None


def registered_codeunits():
    """Every registered codeunit, by id."""
    return [_registry[key] for key in sorted(_registry)]


def check_enabled(unit):
    """Return ``unit``, or raise UnknownCodeunit when an administrator has disabled it.

    Administrators switch codeunits off in the admin (``tasks.models.CodeunitSetting``).
    Runs on every enqueue, so it reads a cached snapshot (``tasks.settings_cache``),
    not the database; until the table exists every registered codeunit is enabled.
    """
    from tasks.settings_cache import policy

    if not policy(unit.id).enabled:
        raise UnknownCodeunit(
            f"Codeunit {unit.id} {unit.name!r} is disabled by an administrator; enable it in the admin "
            f"(Page background tasks > Codeunits) to enqueue it."
        )
    return unit
