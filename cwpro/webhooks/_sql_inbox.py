"""What the SQL-backed inboxes share: the row format, the reads by state, the lifecycle.

:class:`~cwpro.webhooks.SQLiteInbox` and :class:`~cwpro.webhooks.PostgresInbox` differ in how they
reach the database (a thread for ``sqlite3``, an async connection for psycopg) and in their SQL
dialect; what they read and count is written once here.
"""

# Only the table name (a constant or a validated identifier) is formatted into SQL; every
# value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, ClassVar, Final, cast

from typing_extensions import Self

from cwpro.webhooks._group_commit import GroupCommitter
from cwpro.webhooks._inbox import InboxEntry, InboxState, check_limit, decode_event, utc_from_epoch

__all__ = ["COLUMNS", "SQLInboxBase", "entry_from_row"]

COLUMNS: Final = "body, state, attempts, received_at, next_attempt_at, last_error"


def entry_from_row(row: Sequence[Any]) -> InboxEntry:
    """An :class:`InboxEntry` from a row whose first values are :data:`COLUMNS`."""
    body, state, attempts, received_at, next_attempt_at, last_error = row[:6]
    received = utc_from_epoch(received_at)
    assert received is not None
    return InboxEntry(
        event=decode_event(body),
        state=cast(InboxState, state),
        attempts=attempts,
        received_at=received,
        next_attempt_at=utc_from_epoch(next_attempt_at) if state == "pending" else None,
        last_error=last_error,
    )


class SQLInboxBase(abc.ABC):
    """The part of an SQL inbox that does not depend on the database."""

    placeholder: ClassVar[str]  # the dialect's bound-parameter marker: ``?`` or ``%s``
    _table_name: str
    _writes: GroupCommitter[Any]

    @abc.abstractmethod
    async def open(self) -> None:
        """Create the table if needed and be ready to store."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release the database."""

    @abc.abstractmethod
    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one read-only query."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def commits(self) -> int:
        """Write transactions committed so far (each may hold many operations)."""
        return self._writes.batches

    @property
    def writes(self) -> int:
        """Write operations (stores, claims, outcomes...) in those commits."""
        return self._writes.operations

    async def _select(self, where: str, params: Sequence[Any], limit: int | None) -> list[Any]:
        check_limit(limit)
        sql = (
            f"SELECT {COLUMNS} FROM {self._table_name} WHERE {where} "
            "ORDER BY created_date, received_at"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [entry_from_row(row) for row in await self._fetch(sql, params)]

    async def pending(self, limit: int | None = None) -> list[InboxEntry]:
        """Events not handled yet (``pending`` or ``running``), oldest first."""
        return await self._select("state IN ('pending', 'running')", (), limit)

    async def dead(self, limit: int | None = None) -> list[InboxEntry]:
        """Events whose handler kept failing, oldest first, with their last error."""
        return await self._select("state = 'dead'", (), limit)

    async def get(self, event_id: str) -> InboxEntry | None:
        """One event by id, or None (also for ids recorded by :meth:`mark_seen`)."""
        where = f"event_id = {self.placeholder} AND body IS NOT NULL"
        rows = await self._select(where, (event_id,), None)
        return rows[0] if rows else None
