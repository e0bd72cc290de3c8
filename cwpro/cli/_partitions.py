"""Planning the date partitions of an export so that together they cover every item once.

The plan is the SDK's (:mod:`cwpro.pagination.planning`): ``between`` ranges on ``created_date``
(inclusive, non-overlapping, adjacent to the millisecond), cut where each holds about the same
number of items, the outer ones opened up to the epoch and year 9999 unless ``--since`` /
``--until`` bound them. One partition without ``--since``/``--until`` is no ``between`` at all:
the plain list.

Items without a ``created_date`` match no ``between`` range; the export compares what it wrote
with the total the API reported up front and warns when it is short.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

import cwpro
from cwpro.pagination.planning import OPEN_HIGH, OPEN_LOW
from cwpro.pagination.planning import plan_partitions as plan_balanced

__all__ = ["DATE_FIELD", "OPEN_HIGH", "OPEN_LOW", "Plan", "plan_partitions"]

DATE_FIELD: Final = "created_date"

Lister = Callable[..., cwpro.AsyncCursorPaginator[Any]]


@attrs.frozen
class Plan:
    """The partitions of an export and the item count the API reported when planning."""

    partitions: list[dict[str, Any]]
    expected_total: int | None


async def plan_partitions(
    lister: Lister,
    query: Mapping[str, Any],
    *,
    parts: int,
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
) -> Plan:
    """Partitions covering every item of ``lister(**query)`` within ``[since, until]``.

    Small concurrent requests (one-item pages) find the range and count slices of it; the
    first one also gives the total for progress and the final check.
    """
    if since is not None and until is not None and since > until:
        raise ValueError(f"--since {since.isoformat()} is after --until {until.isoformat()}")

    plan = await plan_balanced(
        lister, query, parts=parts, field=DATE_FIELD, since=since, until=until
    )
    return Plan(plan.partitions, plan.total)


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
