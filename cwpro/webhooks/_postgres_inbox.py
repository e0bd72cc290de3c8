"""The webhook inbox in PostgreSQL (psycopg 3), shared by several receiver processes."""

# Only the table name (a constant or a validated identifier) is formatted into SQL; every
# value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from cwpro._errors import WebhookInboxError
from cwpro.webhooks._group_commit import GroupCommitter
from cwpro.webhooks._inbox import InboxEntry, check_limit, check_older_than, encode_event
from cwpro.webhooks._sql_inbox import COLUMNS, SQLInboxBase, entry_from_row

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from cwpro.webhooks import WebhookEvent

__all__ = ["PostgresInbox"]

logger = logging.getLogger("cwpro.webhooks")

_T = TypeVar("_T")
_Write = Callable[[Any], Awaitable[object]]


class PostgresInbox(SQLInboxBase):
    """A durable webhook inbox in a PostgreSQL table, for one or several receiver processes.

    Needs ``psycopg`` 3 (``pip install 'cwpro[postgres]'``). Claims use
    ``FOR UPDATE SKIP LOCKED``, so receivers sharing the table never run one event twice at
    the same time; a claim is a lease of ``lease_seconds``: if its process dies, another
    process takes the event again once the lease has run out (keep it above your slowest
    handler). Concurrent writes of one process are committed together (group commit).

    Args:
        dsn: a libpq connection string or URL (never logged).
        table: the table name (created if missing).
        lease_seconds: how long a claim protects a running event.
        connect_timeout: seconds to wait for a connection.
    """

    placeholder = "%s"

    def __init__(
        self,
        dsn: str,
        *,
        table: str = "cwpro_webhook_inbox",
        lease_seconds: float = 300.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if not isinstance(dsn, str) or not dsn:
            raise ValueError("dsn must be a non-empty connection string")
        if not table.replace("_", "").isalnum() or not table[0].isalpha():
            raise ValueError(f"table must be a plain identifier, not {table!r}")
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, not {lease_seconds!r}")
        self._dsn = dsn
        self.table = self._table_name = table
        self.lease_seconds = float(lease_seconds)
        self.connect_timeout = connect_timeout
        self._connection: AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._writes: GroupCommitter[_Write] = GroupCommitter(self._run_writes)

    def __repr__(self) -> str:
        return f"PostgresInbox(table={self.table!r})"

    # -- connection ----------------------------------------------------------------------

    async def _connect(self) -> AsyncConnection[Any]:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        import psycopg

        connection = await psycopg.AsyncConnection.connect(
            self._dsn, connect_timeout=int(max(1, self.connect_timeout)), autocommit=True
        )
        t = self.table
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (t,))
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {t} (event_id text PRIMARY KEY, "
                "event_name text NOT NULL, created_date timestamptz, body text, "
                "state text NOT NULL, attempts integer NOT NULL DEFAULT 0, "
                "received_at double precision NOT NULL, next_attempt_at double precision "
                "NOT NULL, updated_at double precision NOT NULL, lease_until double precision, "
                "last_error text)"
            )
            await connection.execute(
                f"CREATE INDEX IF NOT EXISTS {t}_due ON {t} (state, created_date)"
            )
        self._connection = connection
        return connection

    async def _use(self, work: Callable[[AsyncConnection[Any]], Awaitable[_T]]) -> _T:
        import psycopg

        async with self._lock:
            try:
                connection = await self._connect()
                return await work(connection)
            except psycopg.Error as exc:
                await self._drop()
                raise WebhookInboxError(
                    f"webhook inbox table {self.table!r}: {type(exc).__name__}: {exc}"
                ) from exc

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # the connection is being thrown away anyway
                logger.debug("closing a broken inbox connection failed", exc_info=True)

    async def _run_writes(self, ops: list[_Write]) -> list[object]:
        async def run(connection: AsyncConnection[Any]) -> list[object]:
            results: list[object] = []
            async with connection.transaction():
                for op in ops:
                    results.append(await op(connection))
            return results

        return await self._use(run)

    async def _write(self, op: Callable[[AsyncConnection[Any]], Awaitable[_T]]) -> _T:
        return cast(_T, await self._writes.submit(op))

    async def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> list[Any]:
        async def run(connection: AsyncConnection[Any]) -> list[Any]:
            async with connection.transaction():
                cursor = await connection.execute(sql, params)
                return await cursor.fetchall()

        return await self._use(run)

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and create the table if needed."""

        async def nothing(connection: AsyncConnection[Any]) -> None:
            return None

        await self._use(nothing)

    async def close(self) -> None:
        """Finish pending writes and close the connection (idempotent)."""
        await self._writes.drain()
        async with self._lock:
            await self._drop()

    # -- the receiver's operations ---------------------------------------------------------

    async def store(self, events: Sequence[WebhookEvent]) -> list[bool]:
        """Store events durably; True per new event (see :meth:`Inbox.store`)."""
        if not events:
            return []
        now = time.time()
        ids = [event.id for event in events]

        async def insert(connection: AsyncConnection[Any]) -> list[bool]:
            cursor = await connection.execute(
                f"INSERT INTO {self.table} (event_id, event_name, created_date, body, state, "
                "attempts, received_at, next_attempt_at, updated_at) "
                "SELECT i, n, c, b, 'pending', 0, %(now)s, %(now)s, %(now)s FROM "
                "unnest(%(ids)s::text[], %(names)s::text[], %(created)s::timestamptz[], "
                "%(bodies)s::text[]) AS u(i, n, c, b) ON CONFLICT (event_id) DO NOTHING "
                "RETURNING event_id",
                {
                    "now": now,
                    "ids": ids,
                    "names": [event.event for event in events],
                    "created": [event.created_date for event in events],
                    "bodies": [encode_event(event) for event in events],
                },
            )
            inserted = {row[0] for row in await cursor.fetchall()}
            seen: set[str] = set()
            flags = []
            for event_id in ids:  # a repeated id within one call is new only once
                flags.append(event_id in inserted and event_id not in seen)
                seen.add(event_id)
            return flags

        return await self._write(insert)

    async def recover(self) -> int:
        """Put events whose claim lease ran out (their process died) back to ``pending``."""
        now = time.time()

        async def reset(connection: AsyncConnection[Any]) -> int:
            cursor = await connection.execute(
                f"UPDATE {self.table} SET state = 'pending', updated_at = %s "
                "WHERE state = 'running' AND lease_until < %s",
                (now, now),
            )
            return cursor.rowcount

        return await self._write(reset)

    async def claim(self, limit: int, *, received_before: float) -> list[InboxEntry]:
        """Take due events (pending, or running with an expired lease), oldest first."""
        check_limit(limit)
        now = time.time()
        t = self.table

        async def take(connection: AsyncConnection[Any]) -> list[InboxEntry]:
            cursor = await connection.execute(
                f"UPDATE {t} SET state = 'running', attempts = attempts + 1, "
                "updated_at = %(now)s, lease_until = %(lease)s WHERE event_id IN ("
                f"SELECT event_id FROM {t} WHERE (state = 'pending' AND next_attempt_at <= "
                f"%(now)s AND created_date <= (SELECT MAX(created_date) FROM {t} WHERE "
                "state = 'pending' AND received_at <= %(cutoff)s AND next_attempt_at <= "
                "%(now)s)) OR (state = 'running' AND lease_until < %(now)s) "
                "ORDER BY created_date, received_at LIMIT %(limit)s "
                f"FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}, created_date",
                {
                    "now": now,
                    "lease": now + self.lease_seconds,
                    "cutoff": received_before,
                    "limit": limit,
                },
            )
            rows = sorted(await cursor.fetchall(), key=lambda row: (row[6], row[3]))
            return [entry_from_row(row) for row in rows]

        return await self._write(take)

    async def next_due(self, *, window: float = 0.0) -> float | None:
        """When the next pending event is due, counting ``window`` after it was received."""
        rows = await self._rows(
            f"SELECT MIN(GREATEST(received_at + %s, next_attempt_at)) FROM {self.table} "
            "WHERE state = 'pending'",
            (window,),
        )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    async def _update(self, sql: str, params: Sequence[Any]) -> int:
        async def run(connection: AsyncConnection[Any]) -> int:
            cursor = await connection.execute(sql, params)
            return cursor.rowcount

        return await self._write(run)

    async def complete(self, event_id: str) -> None:
        """Mark a claimed event ``done``."""
        await self._update(
            f"UPDATE {self.table} SET state = 'done', last_error = NULL, lease_until = NULL, "
            "updated_at = %s WHERE event_id = %s",
            (time.time(), event_id),
        )

    async def fail(self, event_id: str, error: str, *, retry_at: float | None) -> None:
        """Record a failed attempt (pending until ``retry_at``, or dead)."""
        now = time.time()
        await self._update(
            f"UPDATE {self.table} SET state = %s, last_error = %s, next_attempt_at = %s, "
            "lease_until = NULL, updated_at = %s WHERE event_id = %s",
            (
                "dead" if retry_at is None else "pending",
                error,
                now if retry_at is None else retry_at,
                now,
                event_id,
            ),
        )

    async def release(self, event_ids: Sequence[str]) -> None:
        """Give claimed events back unhandled."""
        if event_ids:
            await self._update(
                f"UPDATE {self.table} SET state = 'pending', attempts = GREATEST(attempts - 1, "
                "0), lease_until = NULL, updated_at = %s WHERE event_id = ANY(%s) "
                "AND state = 'running'",
                (time.time(), list(event_ids)),
            )

    # -- tools ---------------------------------------------------------------------------

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self._rows(sql, params)

    async def contains(self, event_id: str) -> bool:
        """True if the id is known (stored, or recorded by :meth:`mark_seen`)."""
        rows = await self._rows(f"SELECT 1 FROM {self.table} WHERE event_id = %s", (event_id,))
        return bool(rows)

    async def replay(self, event_id: str) -> bool:
        """Make a dead or done event pending again with no attempts."""
        now = time.time()
        changed = await self._update(
            f"UPDATE {self.table} SET state = 'pending', attempts = 0, last_error = NULL, "
            "next_attempt_at = %s, received_at = LEAST(received_at, %s), updated_at = %s "
            "WHERE event_id = %s AND state IN ('dead', 'done') AND body IS NOT NULL",
            (now, now, now, event_id),
        )
        return changed == 1

    async def purge(self, older_than: _dt.timedelta, *, dead: bool = False) -> int:
        """Delete done (and, with ``dead``, dead) events last updated before ``older_than`` ago."""
        check_older_than(older_than)
        cutoff = time.time() - older_than.total_seconds()
        states = ["done", "dead"] if dead else ["done"]
        return await self._update(
            f"DELETE FROM {self.table} WHERE state = ANY(%s) AND updated_at < %s",
            (states, cutoff),
        )

    async def mark_seen(self, event_id: str) -> bool:
        """Record an id handled elsewhere (no body, ``done``); True if it was new."""
        now = time.time()
        changed = await self._update(
            f"INSERT INTO {self.table} (event_id, event_name, body, state, attempts, "
            "received_at, next_attempt_at, updated_at) VALUES (%s, '', NULL, 'done', 0, %s, "
            "%s, %s) ON CONFLICT (event_id) DO NOTHING",
            (event_id, now, now, now),
        )
        return changed == 1

    async def forget(self, event_id: str) -> None:
        """Delete an id recorded by :meth:`mark_seen`."""
        await self._update(
            f"DELETE FROM {self.table} WHERE event_id = %s AND body IS NULL", (event_id,)
        )
