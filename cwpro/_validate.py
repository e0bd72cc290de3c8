"""The argument checks every part of the SDK shares.

Each check returns the value (normalised) or raises :class:`~cwpro.InvalidArgumentError` (a
:class:`~cwpro.CwproError` and a ``ValueError``) whose message names the argument and what was
given. Nothing is sent when a check fails. Settings of the client raise
:class:`~cwpro.ConfigurationError` instead: pass ``error=ConfigurationError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ._errors import InvalidArgumentError

__all__ = ["integer", "non_empty_string", "seconds", "string_list"]


def integer(
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    error: type[ValueError] = InvalidArgumentError,
) -> int:
    """An ``int`` (never a ``bool``) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be an integer{_range(minimum, maximum)}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise error(f"{name} must be an integer{_range(minimum, maximum)}, got {value!r}")
    return value


def seconds(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    error: type[ValueError] = InvalidArgumentError,
) -> float:
    """A finite number of seconds, ``>= 0`` (``> 0`` when ``positive``), as a float."""
    bound = "> 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{name} must be a number of seconds {bound}, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise error(f"{name} must be a number of seconds {bound}, got {value!r}")
    return number


def non_empty_string(
    name: str, value: Any, *, error: type[ValueError] = InvalidArgumentError
) -> str:
    """A ``str`` with at least one character."""
    if not isinstance(value, str) or not value:
        raise error(f"{name} must be a non-empty string, got {value!r}")
    return value


def string_list(
    name: str, value: Any, *, error: type[ValueError] = InvalidArgumentError
) -> list[str]:
    """A list of non-empty strings from any iterable of them (a bare ``str`` is refused)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise error(f"{name} must be a list of non-empty strings, got {value!r}")
    items = list(value)
    if not all(isinstance(item, str) and item for item in items):
        raise error(f"{name} must be a list of non-empty strings, got {value!r}")
    return items


def _range(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in {minimum}..{maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""
