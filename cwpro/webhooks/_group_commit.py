"""Group commit: operations submitted while a transaction runs share the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["GroupCommitter"]

_Op = TypeVar("_Op")


class GroupCommitter(Generic[_Op]):
    """Runs submitted operations in batches, one batch (one commit) at a time.

    While a batch is being committed, newly submitted operations wait and then all go into
    the next batch together, so N concurrent callers cost about two commits instead of N.

    ``run_batch`` receives the operations in submission order and returns one result per
    operation: a value, or an exception instance for that operation alone. If ``run_batch``
    itself raises, every operation of the batch fails with that exception.
    """

    def __init__(self, run_batch: Callable[[list[_Op]], Awaitable[list[object]]]) -> None:
        self._run_batch = run_batch
        self._waiting: list[tuple[_Op, asyncio.Future[object]]] = []
        self._flusher: asyncio.Task[None] | None = None
        #: Batches committed so far (for tests and benchmarks).
        self.batches = 0
        #: Operations in those batches.
        self.operations = 0

    async def submit(self, op: _Op) -> object:
        """Queue ``op`` for the next batch and wait for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        future.add_done_callback(_retrieve)
        self._waiting.append((op, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush(), name="cwpro-webhooks-inbox-commit")
        # a cancelled caller does not cancel the batch: its operation may still be committed
        return await asyncio.shield(future)

    async def drain(self) -> None:
        """Wait until every submitted operation has been committed (or failed)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await self._run_batch([op for op, _ in batch])
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    for _, future in self._waiting:
                        future.set_exception(exc)
                    self._waiting = []
                    raise
                continue
            self.batches += 1
            self.operations += len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)


def _retrieve(future: asyncio.Future[object]) -> None:
    """Mark the outcome as read, so an abandoned caller's failure is not logged by asyncio."""
    if not future.cancelled():
        future.exception()
