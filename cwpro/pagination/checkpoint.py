"""Export checkpoints, built and read in this one place.

A checkpoint is a JSON-ready list with one entry per partition, in partition order:
``{"index": i, "cursor": str | None, "done": bool, "items": int, "pages": int}``. ``cursor``
continues the partition right after the last page handed over (``None`` before its first page
and once it is finished); ``done`` is true once its last page was handed over; ``items`` and
``pages`` count what was handed over. ``export(..., resume=checkpoint)`` continues exactly from
it. A saved checkpoint is validated entry by entry before anything is fetched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._errors import InvalidArgumentError

__all__ = ["PartitionState", "checkpoint_of", "restore", "states_for"]


@attrs.define
class PartitionState:
    """Where one export partition stands: ``cursor`` to resume from, ``done`` when finished."""

    index: int
    query: Mapping[str, Any]
    cursor: str | None = None
    done: bool = False
    items: int = 0
    pages: int = 0

    def to_json(self) -> dict[str, Any]:
        """This partition's checkpoint entry (see the module docstring)."""
        return {
            "index": self.index,
            "cursor": self.cursor,
            "done": self.done,
            "items": self.items,
            "pages": self.pages,
        }


def states_for(partitions: Sequence[Mapping[str, Any]]) -> list[PartitionState]:
    """Fresh states, one per partition query (nothing fetched yet)."""
    return [PartitionState(index, dict(query)) for index, query in enumerate(partitions)]


def checkpoint_of(states: Sequence[PartitionState]) -> list[dict[str, Any]]:
    """The checkpoint of an export whose partitions stand at ``states``."""
    return [state.to_json() for state in states]


def _count(entry: Mapping[str, Any], key: str, where: str) -> int:
    value = entry.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"{where}: {key} must be an integer >= 0, got {value!r}")
    return value


def restore(states: Sequence[PartitionState], resume: Any) -> None:
    """Move ``states`` to a saved checkpoint (:class:`cwpro.InvalidArgumentError` if malformed).

    A partition that delivered pages and has no cursor left is finished, whatever its ``done``
    says (checkpoints written by older versions could say ``done: false`` there).
    """
    if isinstance(resume, (str, bytes)) or not isinstance(resume, Sequence):
        raise InvalidArgumentError(
            f"resume must be a list of checkpoint entries, got {type(resume).__name__}"
        )
    if len(resume) != len(states):
        raise InvalidArgumentError(
            f"resume checkpoint does not match the partitions ({len(resume)} entries for "
            f"{len(states)} partitions)"
        )
    for state, entry in zip(states, resume, strict=True):
        where = f"resume checkpoint entry {state.index}"
        if not isinstance(entry, Mapping):
            raise InvalidArgumentError(f"{where} must be a mapping, got {type(entry).__name__}")
        if entry.get("index", state.index) != state.index:
            raise InvalidArgumentError(f"{where}: index is {entry.get('index')!r}")
        cursor = entry.get("cursor")
        if cursor is not None and (not isinstance(cursor, str) or not cursor):
            raise InvalidArgumentError(f"{where}: cursor must be a string or null, got {cursor!r}")
        done = entry.get("done", False)
        if not isinstance(done, bool):
            raise InvalidArgumentError(f"{where}: done must be true or false, got {done!r}")
        items, pages = _count(entry, "items", where), _count(entry, "pages", where)
        if done and cursor is not None:
            raise InvalidArgumentError(f"{where}: a finished partition has no cursor")
        state.cursor = cursor
        state.done = done or (cursor is None and pages > 0)
        state.items = items
        state.pages = pages
