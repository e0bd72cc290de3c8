"""The webhook inbox in one SQLite file (standard library ``sqlite3``, WAL journal)."""

# Only the table name (a constant or a validated identifier) is formatted into SQL; every
# value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as _dt
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from cwpro._errors import WebhookInboxError
from cwpro.webhooks._group_commit import GroupCommitter
from cwpro.webhooks._inbox import InboxEntry, check_limit, check_older_than, encode_event
from cwpro.webhooks._sql_inbox import COLUMNS, SQLInboxBase, entry_from_row

if TYPE_CHECKING:
    from cwpro.webhooks import WebhookEvent

__all__ = ["SQLiteInbox"]

logger = logging.getLogger("cwpro.webhooks")

_T = TypeVar("_T")
_Write = Callable[[sqlite3.Connection], object]

TABLE: Final = "cwpro_webhook_inbox"

_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    event_id TEXT PRIMARY KEY,
    event_name TEXT NOT NULL,
    created_date TEXT NOT NULL,
    body TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS {TABLE}_due ON {TABLE} (state, created_date);
"""


def sortable_time(moment: _dt.datetime) -> str:
    """A UTC timestamp whose text order is its time order."""
    return moment.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SQLiteInbox(SQLInboxBase):
    """A durable webhook inbox in one SQLite file, for one receiver process.

    Every write is committed with ``synchronous=FULL`` in WAL mode, so when :meth:`store`
    returns the events are on disk: a receiver answers 200 only after that. Writes submitted
    while a commit is running are committed together in the next transaction (group commit),
    so concurrent deliveries share one fsync. All database work runs on one background thread.

    One receiver process per file (``recover`` at start puts every ``running`` event back to
    ``pending``); use :class:`~cwpro.webhooks.PostgresInbox` for several processes. The
    inbox can be used without a receiver to inspect or fix things::

        async with SQLiteInbox("events.db") as inbox:
            for entry in await inbox.dead():
                print(entry.id, entry.last_error)
                await inbox.replay(entry.id)

    Args:
        path: the database file (created if missing, with its directory's permissions).
        busy_timeout: seconds to wait for a lock held by another connection before failing
            (the receiver then answers 503).
        max_size_bytes: a cap on the file size (SQLite's ``max_page_count``); beyond it
            writes fail as on a full disk. None for no cap.
    """

    placeholder = "?"
    _table_name = TABLE

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        max_size_bytes: int | None = None,
    ) -> None:
        self.path = os.fspath(path)
        if not self.path or self.path == ":memory:":
            raise ValueError("SQLiteInbox needs a file path (an in-memory database is not durable)")
        if not (isinstance(busy_timeout, (int, float)) and busy_timeout >= 0):
            raise ValueError(f"busy_timeout must be >= 0 seconds, not {busy_timeout!r}")
        if max_size_bytes is not None and (
            not isinstance(max_size_bytes, int) or max_size_bytes < 1
        ):
            raise ValueError(f"max_size_bytes must be a positive integer, not {max_size_bytes!r}")
        self.busy_timeout = float(busy_timeout)
        self.max_size_bytes = max_size_bytes
        self._connection: sqlite3.Connection | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._writes: GroupCommitter[_Write] = GroupCommitter(self._run_writes)

    def __repr__(self) -> str:
        return f"SQLiteInbox({self.path!r})"

    # -- the thread ----------------------------------------------------------------------

    async def _in_thread(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="cwpro-webhooks-sqlite"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._with_connection, work)

    def _with_connection(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            return work(self._connect())
        except sqlite3.Error as exc:
            self._drop_connection_after(exc)
            raise WebhookInboxError(f"webhook inbox {self.path!r}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None:
            return self._connection
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot use the WAL journal (got {mode!r})")
            connection.execute("PRAGMA synchronous=FULL")
            if self.max_size_bytes is not None:
                page_size = connection.execute("PRAGMA page_size").fetchone()[0]
                pages = max(1, self.max_size_bytes // page_size)
                connection.execute(f"PRAGMA max_page_count={int(pages)}")
            connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _drop_connection_after(self, exc: sqlite3.Error) -> None:
        """Reconnect next time after errors that may leave the connection unusable."""
        if self._connection is None:
            return
        if self._connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._connection.rollback()
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
            self._close_connection()

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(sqlite3.Error):
                connection.close()

    def _run_writes_in_thread(
        self, connection: sqlite3.Connection, ops: list[_Write]
    ) -> list[object]:
        results: list[object] = []
        connection.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                connection.execute("SAVEPOINT op")
                try:
                    results.append(op(connection))
                except sqlite3.Error:
                    raise
                except Exception as exc:  # this operation's own bad input
                    connection.execute("ROLLBACK TO op")
                    results.append(exc)
                connection.execute("RELEASE op")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return results

    async def _run_writes(self, ops: list[_Write]) -> list[object]:
        return await self._in_thread(lambda conn: self._run_writes_in_thread(conn, ops))

    async def _write(self, op: Callable[[sqlite3.Connection], _T]) -> _T:
        return cast(_T, await self._writes.submit(op))

    async def _update(self, sql: str, params: Sequence[Any]) -> int:
        """Run one write statement in the group commit; the number of rows it changed."""
        changed: int = await self._write(lambda conn: conn.execute(sql, params).rowcount)
        return changed

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Open the file and create the table if needed (see :meth:`Inbox.open`)."""
        await self._in_thread(lambda conn: None)

    async def close(self) -> None:
        """Finish pending writes and close the file (idempotent)."""
        await self._writes.drain()
        executor, self._executor = self._executor, None
        if executor is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executor, self._close_connection)
            executor.shutdown(wait=True)

    # -- the receiver's operations ---------------------------------------------------------

    async def store(self, events: Sequence[WebhookEvent]) -> list[bool]:
        """Store events durably; True per new event (see :meth:`Inbox.store`)."""
        if not events:
            return []
        now = time.time()
        rows = [
            (event.id, event.event, sortable_time(event.created_date), encode_event(event))
            for event in events
        ]

        def insert(conn: sqlite3.Connection) -> list[bool]:
            new: list[bool] = []
            for row in rows:
                cursor = conn.execute(
                    f"INSERT INTO {TABLE} (event_id, event_name, created_date, body, state, "
                    "attempts, received_at, next_attempt_at, updated_at) "
                    "VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                    (*row, now, now, now),
                )
                new.append(cursor.rowcount == 1)
            return new

        return await self._write(insert)

    async def recover(self) -> int:
        """Put every ``running`` event back to ``pending`` (one process per file)."""
        return await self._update(
            f"UPDATE {TABLE} SET state = 'pending', updated_at = ? WHERE state = 'running'",
            (time.time(),),
        )

    async def claim(self, limit: int, *, received_before: float) -> list[InboxEntry]:
        """Take due pending events, oldest ``created_date`` first (see :meth:`Inbox.claim`).

        Events created before a due one are due with it (as in an ordering buffer).
        """
        check_limit(limit)
        now = time.time()

        def take(conn: sqlite3.Connection) -> list[InboxEntry]:
            rows = conn.execute(
                f"SELECT event_id, {COLUMNS} FROM {TABLE} WHERE state = 'pending' "
                "AND next_attempt_at <= ? AND created_date <= ("
                f"SELECT MAX(created_date) FROM {TABLE} WHERE state = 'pending' "
                "AND received_at <= ? AND next_attempt_at <= ?) "
                "ORDER BY created_date, received_at LIMIT ?",
                (now, received_before, now, limit),
            ).fetchall()
            if not rows:
                return []
            conn.executemany(
                f"UPDATE {TABLE} SET state = 'running', attempts = attempts + 1, "
                "updated_at = ? WHERE event_id = ?",
                [(now, row[0]) for row in rows],
            )
            return [
                entry_from_row((row[1], "running", row[3] + 1, row[4], None, row[6]))
                for row in rows
            ]

        return await self._write(take)

    async def next_due(self, *, window: float = 0.0) -> float | None:
        """When the next pending event is due, counting ``window`` after it was received."""

        def query(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                f"SELECT MIN(MAX(received_at + ?, next_attempt_at)) FROM {TABLE} "
                "WHERE state = 'pending'",
                (window,),
            ).fetchone()
            return None if row is None or row[0] is None else float(row[0])

        return await self._in_thread(query)

    async def complete(self, event_id: str) -> None:
        """Mark a claimed event ``done``."""
        await self._update(
            f"UPDATE {TABLE} SET state = 'done', last_error = NULL, updated_at = ? "
            "WHERE event_id = ?",
            (time.time(), event_id),
        )

    async def fail(self, event_id: str, error: str, *, retry_at: float | None) -> None:
        """Record a failed attempt (pending until ``retry_at``, or dead)."""
        now = time.time()
        state = "dead" if retry_at is None else "pending"
        await self._update(
            f"UPDATE {TABLE} SET state = ?, last_error = ?, next_attempt_at = ?, "
            "updated_at = ? WHERE event_id = ?",
            (state, error, now if retry_at is None else retry_at, now, event_id),
        )

    async def release(self, event_ids: Sequence[str]) -> None:
        """Give claimed events back unhandled."""
        if not event_ids:
            return
        now = time.time()
        await self._write(
            lambda conn: conn.executemany(
                f"UPDATE {TABLE} SET state = 'pending', attempts = MAX(attempts - 1, 0), "
                "updated_at = ? WHERE event_id = ? AND state = 'running'",
                [(now, event_id) for event_id in event_ids],
            )
        )

    # -- tools ---------------------------------------------------------------------------

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return await self._in_thread(lambda conn: conn.execute(sql, params).fetchall())

    async def counts(self) -> dict[str, int]:
        """How many events are in each state."""
        rows = await self._in_thread(
            lambda conn: conn.execute(
                f"SELECT state, COUNT(*) FROM {TABLE} WHERE body IS NOT NULL GROUP BY state"
            ).fetchall()
        )
        found = dict.fromkeys(("pending", "running", "done", "dead"), 0)
        found.update({state: count for state, count in rows})
        return found

    async def replay(self, event_id: str) -> bool:
        """Make a dead or done event pending again with no attempts."""
        now = time.time()
        changed = await self._update(
            f"UPDATE {TABLE} SET state = 'pending', attempts = 0, last_error = NULL, "
            "next_attempt_at = ?, received_at = MIN(received_at, ?), updated_at = ? "
            "WHERE event_id = ? AND state IN ('dead', 'done') AND body IS NOT NULL",
            (now, now, now, event_id),
        )
        return changed == 1

    async def purge(self, older_than: _dt.timedelta, *, dead: bool = False) -> int:
        """Delete done (and, with ``dead``, dead) events last updated before ``older_than`` ago."""
        check_older_than(older_than)
        cutoff = time.time() - older_than.total_seconds()
        states = ("done", "dead") if dead else ("done", "done")
        return await self._update(
            f"DELETE FROM {TABLE} WHERE state IN (?, ?) AND updated_at < ?", (*states, cutoff)
        )

    async def contains(self, event_id: str) -> bool:
        """True if the id is known (stored, or recorded by :meth:`mark_seen`)."""
        row = await self._in_thread(
            lambda conn: conn.execute(
                f"SELECT 1 FROM {TABLE} WHERE event_id = ?", (event_id,)
            ).fetchone()
        )
        return row is not None

    async def mark_seen(self, event_id: str) -> bool:
        """Record an id handled elsewhere (no body, ``done``); True if it was new."""
        now = time.time()
        changed = await self._update(
            f"INSERT INTO {TABLE} (event_id, event_name, created_date, body, state, "
            "attempts, received_at, next_attempt_at, updated_at) "
            "VALUES (?, '', '', NULL, 'done', 0, ?, ?, ?) "
            "ON CONFLICT (event_id) DO NOTHING",
            (event_id, now, now, now),
        )
        return changed == 1

    async def forget(self, event_id: str) -> None:
        """Delete an id recorded by :meth:`mark_seen`."""
        await self._update(f"DELETE FROM {TABLE} WHERE event_id = ? AND body IS NULL", (event_id,))
