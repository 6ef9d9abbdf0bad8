"""Checks for the values that cross into and out of a child session (S6, S9, S10, S26).

Each check fails where the value is made: parameters at enqueue, results in the
child session. The error names the offending key and type.
"""

from tasks import conf
from tasks.errors import InvalidErrorLevel, InvalidTaskParameters, InvalidTaskResult, InvalidTaskTimeout

ERROR_LEVELS = ("ignore", "warning", "error")


def _check_str_dict(value, what, error_class):
    if not isinstance(value, dict):
        raise error_class(f"{what} must be a dict of str to str, not {type(value).__name__}: {value!r:.80}.")
    for key, item in value.items():
        if not isinstance(key, str):
            raise error_class(f"{what} key {key!r} is a {type(key).__name__}; keys must be str.")
        if not isinstance(item, str):
            raise error_class(
                f"{what} value for {key!r} is a {type(item).__name__} ({item!r:.80}); values must be str."
            )
    return dict(value)


def validate_parameters(parameters):
    """Return a snapshot of ``parameters`` (None means {}), or raise InvalidTaskParameters."""
    if parameters is None:
        return {}
    return _check_str_dict(parameters, "Parameter", InvalidTaskParameters)


def validate_results(results):
    """Return the result dict of a codeunit (None means {}), or raise InvalidTaskResult (S21)."""
    if results is None:
        return {}
    return _check_str_dict(results, "Result", InvalidTaskResult)


def effective_timeout(timeout):
    """Milliseconds a task may run: the default for None, clamped to the maximum (S10)."""
    if timeout is None:
        return conf.get("DEFAULT_TIMEOUT_MS")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        raise InvalidTaskTimeout(
            f"Timeout {timeout!r} is not a positive whole number of milliseconds "
            f"(for example 10000 for ten seconds)."
        )
    return min(timeout, conf.get("MAX_TIMEOUT_MS"))


def validate_error_level(error_level):
    if error_level not in ERROR_LEVELS:
        raise InvalidErrorLevel(f"Error level {error_level!r} is not one of {', '.join(ERROR_LEVELS)}.")
    return error_level
