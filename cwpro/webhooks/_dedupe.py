"""Remembering which notifications were already handled (CWP delivers some more than once).

A :class:`SeenStore` is the de-duplication memory shared by the webhook receiver and
:func:`~cwpro.webhooks.backfill`. :class:`InMemorySeenStore` is the default; it forgets on
restart and is local to one process. For several processes, or to survive restarts, back the
protocol with a shared store. All three methods are async so a network store fits.

Redis (``redis.asyncio``), using ``SET NX EX`` as the atomic check-and-set::

    class RedisSeenStore:
        def __init__(self, redis, *, ttl_seconds=100 * 24 * 3600, prefix="cwpro:seen:"):
            self._redis, self._ttl, self._prefix = redis, ttl_seconds, prefix

        async def add(self, event_id: str) -> bool:
            # True only for the caller that created the key.
            key = self._prefix + event_id
            return bool(await self._redis.set(key, b"1", nx=True, ex=self._ttl))

        async def discard(self, event_id: str) -> None:
            await self._redis.delete(self._prefix + event_id)

        async def contains(self, event_id: str) -> bool:
            return bool(await self._redis.exists(self._prefix + event_id))

Keep the TTL above CWP's retention of notifications (3 months) if backfills may reach back
that far.

SQL, with a table ``seen_events(event_id TEXT PRIMARY KEY, seen_at TIMESTAMP)`` and an
insert-or-ignore whose affected row count tells whether the id was new::

    async def add(self, event_id: str) -> bool:
        # PostgreSQL / SQLite >= 3.24: INSERT ... ON CONFLICT DO NOTHING
        # MySQL: INSERT IGNORE INTO ...
        cursor = await conn.execute(
            "INSERT INTO seen_events (event_id, seen_at) VALUES (?, CURRENT_TIMESTAMP) "
            "ON CONFLICT (event_id) DO NOTHING",
            (event_id,),
        )
        return cursor.rowcount == 1

    async def discard(self, event_id: str) -> None:
        await conn.execute("DELETE FROM seen_events WHERE event_id = ?", (event_id,))

    async def contains(self, event_id: str) -> bool:
        cursor = await conn.execute("SELECT 1 FROM seen_events WHERE event_id = ?", (event_id,))
        return await cursor.fetchone() is not None

Never implement ``add`` as ``contains`` followed by an insert: two deliveries of the same
event arriving together would both see "new".
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol, runtime_checkable

__all__ = ["InMemorySeenStore", "SeenStore"]


@runtime_checkable
class SeenStore(Protocol):
    """The de-duplication memory: which notification ids were already taken for handling."""

    async def add(self, event_id: str) -> bool:
        """Record ``event_id``; True if it was new, False if it was already there.

        Must be an atomic check-and-set: of concurrent calls with one id, exactly one gets True.
        """
        ...

    async def discard(self, event_id: str) -> None:
        """Forget ``event_id`` (no error if unknown), so that a redelivery is handled again."""
        ...

    async def contains(self, event_id: str) -> bool:
        """True if ``event_id`` is recorded (informational; use :meth:`add` to claim an id)."""
        ...


class InMemorySeenStore:
    """A bounded, least-recently-seen-first-forgotten set of ids in this process's memory.

    ``add`` is atomic within one event loop (it never awaits). When more than ``max_size`` ids
    are recorded, the one seen least recently is forgotten; seeing an id again (a duplicate)
    refreshes it. The store is lost on restart: use a shared store (see the module docs) when
    several processes receive webhooks or when duplicates may arrive across restarts.

    Args:
        max_size: how many ids to remember (at least 1). 100,000 ids take roughly 15 MB.
    """

    def __init__(self, max_size: int = 100_000) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        self.max_size = max_size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"InMemorySeenStore(size={len(self._ids)}, max_size={self.max_size})"

    async def add(self, event_id: str) -> bool:
        """Record ``event_id``; True if it was new (see :meth:`SeenStore.add`)."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        while len(self._ids) > self.max_size:
            self._ids.popitem(last=False)
        return True

    async def discard(self, event_id: str) -> None:
        """Forget ``event_id`` (no error if unknown)."""
        self._ids.pop(event_id, None)

    async def contains(self, event_id: str) -> bool:
        """True if ``event_id`` is recorded (does not refresh it)."""
        return event_id in self._ids

    def clear(self) -> None:
        """Forget every id."""
        self._ids.clear()
