"""Planning an export's partitions so that each holds about as many items as the others.

An export is as fast as its largest partition: eight partitions of equal *time* over data that
grows with time (most collections do) leave the last one with twice the items of the first, and
the whole export waits for it. The planner therefore asks the API how many items each slice of
the range holds (``totalResults`` of a one-item page; ``cwpro._wire.TOTAL_RESULTS_IS_FILTERED``)
and cuts where the running count crosses each share:

1. two one-item pages, oldest and newest first (concurrently): the range and the total;
2. ``samples`` equal-time slices per partition (64 at the most), counted concurrently;
3. the slices in which a cut falls and that hold more than half a partition's share, split
   again into eight and counted, round after round (ten at the most), so that dense stretches
   (a burst of items created in one second) are cut precisely;
4. cuts interpolated inside the slice where each share is crossed, rounded to the millisecond.

The partitions are adjacent ``between`` ranges (inclusive, one millisecond apart) that together
cover the whole range, so an export of them returns every item exactly once whatever the counts
said; the counts only decide where to cut. Without ``since``/``until`` the outer partitions are
*opened up* to the epoch and to year 9999: an item created during the export still falls in the
last partition.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import attrs

from .._errors import InvalidArgumentError
from .._serde import parse_datetime
from .cursor import cancel_all, check_count
from .pages import CursorPage
from .partitions import merge_partition, split_range

__all__ = ["OPEN_HIGH", "OPEN_LOW", "PartitionPlan", "plan_partitions"]

T = TypeVar("T")

#: The low end of an opened-up first partition.
OPEN_LOW: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
#: The high end of an opened-up last partition.
OPEN_HIGH: Final = _dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=_dt.timezone.utc)
_MS: Final = _dt.timedelta(milliseconds=1)
_REFINE: Final = 8  # sub-slices of a dense slice
_MAX_SLICES: Final = 64
_MAX_ROUNDS: Final = 10
_PROBES_AT_ONCE: Final = 16

#: A resource's ``list`` (``lister(**options, as_dict=True)`` awaited gives the first page).
Lister = Callable[..., Awaitable[CursorPage[Any]]]


@attrs.frozen
class PartitionPlan:
    """Partitions for ``export()``, with what planning learnt about them.

    ``partitions``: ``between`` ranges on ``field``, ready for ``resource.export(plan.partitions)``.
    ``total``: the items the API reported for the whole range when planning (None if it did
    not say). ``estimated``: the items expected in each partition, or None when the API gave no
    counts (then the partitions are equal slices of time). ``requests``: the requests planning
    sent.
    """

    partitions: list[dict[str, Any]]
    total: int | None
    estimated: list[int] | None
    requests: int


@attrs.define
class _Slice:
    low: _dt.datetime
    high: _dt.datetime  # inclusive, like ``between``
    count: int


async def _together(*awaitables: Awaitable[T]) -> list[T]:
    """Every result; on the first failure the others are cancelled and awaited (none is left
    running with an error nobody reads), then the failure is raised."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        await cancel_all(tasks)
        raise


class _Planner:
    def __init__(self, lister: Lister, query: Mapping[str, Any], field: str) -> None:
        self.lister, self.query, self.field = lister, query, field
        self.requests = 0
        self.limit = asyncio.Semaphore(_PROBES_AT_ONCE)

    async def page(self, **options: Any) -> CursorPage[dict[str, Any]]:
        async with self.limit:
            self.requests += 1
            return await self.lister(**{**options, "limit": 1, "as_dict": True})

    async def edge(self, direction: str) -> tuple[_dt.datetime | None, int | None]:
        page = await self.page(**self.query, sort_by=f"{self.field}:{direction}")
        if not page.items:
            return None, page.total_results
        try:
            return parse_datetime(page.items[0].get(self.field)), page.total_results
        except ValueError:
            return None, page.total_results

    async def counts(self, ranges: Sequence[dict[str, Any]]) -> list[int] | None:
        pages = await _together(
            *(self.page(**merge_partition(self.query, part)) for part in ranges)
        )
        counts = [page.total_results for page in pages]
        known = [count for count in counts if count is not None]
        return known if len(known) == len(counts) else None

    async def slices(self, low: _dt.datetime, high: _dt.datetime, n: int) -> list[_Slice] | None:
        ranges = split_range(self.field, low, high, n)
        counts = await self.counts(ranges)
        if counts is None:
            return None
        bounds = [part["between"][self.field] for part in ranges]
        return [_Slice(low, high, count) for (low, high), count in zip(bounds, counts, strict=True)]


def _crossings(slices: Sequence[_Slice], parts: int) -> list[tuple[float, _Slice, int]]:
    """For each share ``k / parts`` of the items (k < parts): the share's item count, the slice
    in which the running count reaches it, and the items counted before that slice."""
    total = sum(s.count for s in slices)
    found: list[tuple[float, _Slice, int]] = []
    before, index = 0, 0
    for k in range(1, parts):
        target = total * k / parts
        while index < len(slices) and before + slices[index].count < target:
            before += slices[index].count
            index += 1
        if index < len(slices):
            found.append((target, slices[index], before))
    return found


async def _refine(planner: _Planner, slices: list[_Slice], parts: int) -> list[_Slice]:
    """Split, round after round, the slices where a cut falls that hold over half a share."""
    for _ in range(_MAX_ROUNDS):
        share = sum(s.count for s in slices) / parts
        crossed = {id(piece): piece for _, piece, _ in _crossings(slices, parts)}.values()
        dense = [s for s in crossed if s.count > share / 2 and s.high > s.low]
        if not dense:
            break
        refined = await _together(*(planner.slices(s.low, s.high, _REFINE) for s in dense))
        replaced = {id(s): r for s, r in zip(dense, refined, strict=True) if r is not None}
        if not replaced:
            break
        slices = [piece for s in slices for piece in replaced.get(id(s), [s])]
    return slices


def _cuts(slices: Sequence[_Slice], parts: int) -> list[_dt.datetime]:
    """Where the running count crosses each ``k / parts`` share, interpolated in its slice."""
    cuts: list[_dt.datetime] = []
    for target, piece, before in _crossings(slices, parts):
        span = piece.high + _MS - piece.low
        fraction = (target - before) / piece.count if piece.count else 0.0
        cut = piece.low + span * fraction
        cut = cut.replace(microsecond=cut.microsecond // 1000 * 1000)
        if cut <= (cuts[-1] if cuts else slices[0].low):
            continue  # nothing between two cuts (a burst of items in one millisecond)
        cuts.append(cut)
    return cuts


def _estimate(
    slices: Sequence[_Slice], bounds: Sequence[tuple[_dt.datetime, _dt.datetime]]
) -> list[int]:
    """Items expected in each partition, the slices' counts spread evenly over their time.

    Rounded so that the estimates add up to the counted items (largest remainders first).
    """
    shares = []
    for low, high in bounds:
        share = 0.0
        for piece in slices:
            overlap = min(high, piece.high) - max(low, piece.low) + _MS
            if overlap > _dt.timedelta(0):
                share += piece.count * (overlap / (piece.high + _MS - piece.low))
        shares.append(share)
    estimates = [int(share) for share in shares]
    missing = sum(s.count for s in slices) - sum(estimates)
    by_remainder = sorted(range(len(shares)), key=lambda i: estimates[i] - shares[i])
    for index in by_remainder[: max(0, missing)]:
        estimates[index] += 1
    return estimates


async def plan_partitions(
    lister: Lister,
    query: Mapping[str, Any],
    *,
    parts: int,
    field: str = "created_date",
    since: _dt.datetime | None = None,
    until: _dt.datetime | None = None,
    samples: int = 4,
) -> PartitionPlan:
    """Plan ``parts`` partitions of ``lister(**query)`` with about equal item counts.

    See the module docstring. ``since``/``until`` bound the range (both included); the outer
    partitions end there, or are opened up when not given.
    """
    check_count("parts", parts, 1)
    check_count("samples", samples, 1)
    for name, value in (("since", since), ("until", until)):
        if value is not None and (not isinstance(value, _dt.datetime) or value.tzinfo is None):
            raise InvalidArgumentError(f"{name} must be an aware datetime, got {value!r}")
    if since is not None and until is not None and since > until:
        raise InvalidArgumentError(f"since {since.isoformat()} is after until {until.isoformat()}")
    window_low, window_high = since or OPEN_LOW, until or OPEN_HIGH
    window = {"between": {field: (window_low, window_high)}}
    whole = [window] if since is not None or until is not None else [{}]
    planner = _Planner(lister, merge_partition(query, window), field)
    if parts == 1:
        edge = await planner.edge("asc")
        return PartitionPlan(whole, edge[1], None if edge[1] is None else [edge[1]], 1)
    (oldest, total), (newest, _) = await _together(planner.edge("asc"), planner.edge("desc"))
    if oldest is None or newest is None or newest < oldest or total == 0:
        estimated = None if total is None else [total]
        return PartitionPlan(whole, total, estimated, planner.requests)
    parts = min(parts, total or parts, (newest - oldest) // _MS + 1)
    slices = await planner.slices(oldest, newest, max(parts, min(parts * samples, _MAX_SLICES)))
    if slices is None:  # no counts from the API: equal slices of time
        bounds = [p["between"][field] for p in split_range(field, oldest, newest, parts)]
        estimated = None
    else:
        slices = await _refine(planner, slices, parts)
        cuts = _cuts(slices, parts)
        lows = [oldest, *cuts]
        bounds = [(lo, hi - _MS) for lo, hi in zip(lows, [*cuts, newest + _MS], strict=True)]
        estimated = _estimate(slices, bounds)
    bounds[0] = (min(window_low, bounds[0][0]), bounds[0][1])
    bounds[-1] = (bounds[-1][0], max(window_high, bounds[-1][1]))
    partitions = [{"between": {field: bound}} for bound in bounds]
    return PartitionPlan(partitions, total, estimated, planner.requests)
