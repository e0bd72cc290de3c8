"""Planning the date partitions of an export so that together they cover every item once.

Partitions are ``between`` ranges on ``created_date`` made by :func:`cwpro.split_range`
(inclusive, non-overlapping, adjacent to the millisecond). Without ``--since``/``--until`` the
range is probed from the data (oldest and newest item) and then *opened up*: the first partition
starts at the epoch (or earlier, if older items exist) and the last one ends in year 9999, so an
item created during the export, or just outside the probed range, still falls in a partition.
One partition without ``--since``/``--until`` is no ``between`` at all: the plain list.

Items without a ``created_date`` match no ``between`` range; the export compares what it wrote
with the total the API reported up front and warns when it is short.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

import cwpro

DATE_FIELD: Final = "created_date"
OPEN_LOW: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
OPEN_HIGH: Final = _dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=_dt.timezone.utc)

Lister = Callable[..., cwpro.AsyncCursorPaginator[Any]]


@attrs.frozen
class Plan:
    """The partitions of an export and the item count the API reported when planning."""

    partitions: list[dict[str, Any]]
    expected_total: int | None


def _one_range(since: _dt.datetime | None, until: _dt.datetime | None) -> list[dict[str, Any]]:
    if since is None and until is None:
        return [{}]
    return [{"between": {DATE_FIELD: (since or OPEN_LOW, until or OPEN_HIGH)}}]


async def _edge(
    lister: Lister, query: Mapping[str, Any], direction: str
) -> tuple[_dt.datetime | None, int | None]:
    """The ``created_date`` of the first item in ``direction`` order, and the list's total."""
    page = await lister(**{**query, "limit": 1, "sort_by": f"{DATE_FIELD}:{direction}"})
    if not page.items:
        return None, page.total_results
    value = getattr(page.items[0], DATE_FIELD, None)
    return (value if isinstance(value, _dt.datetime) else None), page.total_results


async def plan_partitions(
    lister: Lister,
    query: Mapping[str, Any],
    *,
    parts: int,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
) -> Plan:
    """Partitions covering every item of ``lister(**query)`` within ``[since, until]``.

    Two small requests (oldest and newest item, ``limit=1``) find the range to split when it
    is not given; the first one also gives the total for progress and the final check.
    """
    if since is not None and until is not None and since > until:
        raise ValueError(f"--since {since.isoformat()} is after --until {until.isoformat()}")
    probe = dict(query)
    if since is not None or until is not None:
        probe["between"] = {DATE_FIELD: (since or OPEN_LOW, until or OPEN_HIGH)}
    oldest, total = await _edge(lister, probe, "asc")
    if parts == 1 or not total:
        return Plan(_one_range(since, until), total)
    newest = until
    if newest is None:
        newest, _ = await _edge(lister, probe, "desc")
    low = since if since is not None else oldest
    if low is None or newest is None or newest < low:
        return Plan(_one_range(since, until), total)  # no usable dates: do not split
    partitions = cwpro.split_range(DATE_FIELD, low, newest, parts)
    if since is None:
        low_end, high_end = partitions[0]["between"][DATE_FIELD]
        partitions[0]["between"][DATE_FIELD] = (min(OPEN_LOW, low_end), high_end)
    if until is None:
        low_end, high_end = partitions[-1]["between"][DATE_FIELD]
        partitions[-1]["between"][DATE_FIELD] = (low_end, max(OPEN_HIGH, high_end))
    return Plan(partitions, total)


def partitions_to_json(partitions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Partitions as JSON data (datetimes in ISO 8601) for the checkpoint file."""
    result: list[dict[str, Any]] = []
    for part in partitions:
        between = part.get("between")
        if not between:
            result.append({})
            continue
        result.append(
            {
                "between": {
                    col: [lo.isoformat(), hi.isoformat()] for col, (lo, hi) in between.items()
                }
            }
        )
    return result


def partitions_from_json(data: Any) -> list[dict[str, Any]]:
    """The inverse of :func:`partitions_to_json` (raises ``ValueError`` on malformed data)."""
    if not isinstance(data, list) or not data:
        raise ValueError("partitions must be a non-empty list")
    result: list[dict[str, Any]] = []
    for part in data:
        if not isinstance(part, dict) or set(part) - {"between"}:
            raise ValueError(f"unexpected partition {part!r}")
        between = part.get("between")
        if not between:
            result.append({})
            continue
        ranges = {}
        for column, bounds in between.items():
            low, high = (_dt.datetime.fromisoformat(text) for text in bounds)
            ranges[column] = (low, high)
        result.append({"between": ranges})
    return result
