"""Partitions of an export: splitting a range, and merging a partition into the shared query."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from .._errors import InvalidArgumentError

__all__ = ["merge_partition", "split_range"]

#: Query options whose value is a mapping: a partition adds its columns to the shared ones.
_MERGED_KEYS = ("in_", "between", "filter_by")


def merge_partition(query: Mapping[str, Any], partition: Any) -> dict[str, Any]:
    """The list options of one partition: ``query`` with ``partition``'s options on top.

    ``in_``, ``between`` and ``filter_by`` are merged column by column; other options replace.
    """
    if not isinstance(partition, Mapping):
        raise InvalidArgumentError(
            f"each partition must be a mapping of list options, got {partition!r}"
        )
    combined = dict(query)
    for key, value in partition.items():
        if key in _MERGED_KEYS and key in combined:
            combined[key] = {**combined[key], **value}
        else:
            combined[key] = value
    return combined


def split_range(field: str, start: Any, end: Any, parts: int) -> list[dict[str, Any]]:
    """Split ``[start, end]`` on ``field`` into ``parts`` ``between`` partitions that never overlap.

    The API's ``between`` includes both ends, so each partition ends one step before the next
    begins: 1 for integers, 1 millisecond (the API's resolution) for datetimes, one day for dates.
    Together the partitions cover ``[start, end]`` exactly. Returns a list of
    ``{"between": {field: (lo, hi)}}`` ready for ``export(partitions=...)``.
    """
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise InvalidArgumentError(f"parts must be an integer >= 1, got {parts!r}")
    if isinstance(start, _dt.datetime) and isinstance(end, _dt.datetime):
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise InvalidArgumentError(
                "split_range: start and end must both be aware or both naive"
            )
        step: Any = _dt.timedelta(milliseconds=1)
        start = start.replace(microsecond=start.microsecond // 1000 * 1000)
        span_units = (end - start) // step
    elif (
        isinstance(start, _dt.date)
        and isinstance(end, _dt.date)
        and not isinstance(start, _dt.datetime)
        and not isinstance(end, _dt.datetime)
    ):
        step = _dt.timedelta(days=1)
        span_units = (end - start).days
    elif (
        isinstance(start, int)
        and isinstance(end, int)
        and not isinstance(start, bool)
        and not isinstance(end, bool)
    ):
        step = 1
        span_units = end - start
    else:
        raise InvalidArgumentError(
            "split_range: start and end must both be ints, dates or datetimes"
        )
    if span_units < 0:
        raise InvalidArgumentError(f"split_range: start {start!r} is after end {end!r}")
    parts = min(parts, span_units + 1)
    bounds = []
    total = span_units + 1
    for i in range(parts):
        lo_units = total * i // parts
        hi_units = total * (i + 1) // parts - 1
        bounds.append((start + step * lo_units, start + step * hi_units))
    return [{"between": {field: (lo, hi)}} for lo, hi in bounds]
