"""Run an async page stream on a private loop in a worker thread, as a blocking generator.

dlt can drive async generator resources itself, but when a run stops early (an error in any
resource, a failed load) it never closes them: the generator is left suspended on dlt's loop,
the client inside it keeps its connections, and pending tasks are destroyed with that loop. So
each resource of :func:`cwpro.dlt.cwp_source` is a plain generator over
:func:`stream_in_thread`, which owns everything async it starts:

* the stream runs on a fresh event loop in a worker thread and hands items over through a
  queue, at most ``ahead`` items ahead of the consumer (fetching goes on while dlt writes);
* an error of the stream is raised in the consumer's thread, with its traceback;
* closing the generator (exhausted, ``close()``, garbage collection, an exception in dlt)
  cancels the stream, which closes its client and connections, and joins the thread before
  returning: nothing is left running.

It needs no event loop in the caller's thread and works inside one (Jupyter) too.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final, Generic, TypeVar

from cwpro.pagination._closing import closing

__all__ = ["ThreadedStream", "stream_in_thread"]

T = TypeVar("T")

#: Seconds to wait for the worker to finish after a cancellation before giving up on it.
JOIN_TIMEOUT: Final = 30.0
_ITEM, _ERROR, _END = "item", "error", "end"


def stream_in_thread(
    make: Callable[[], AsyncIterator[T]], *, ahead: int = 4, name: str = "cwpro-dlt"
) -> Iterator[T]:
    """Yield the items of ``make()`` (an async iterator started on the worker's loop)."""
    yield from ThreadedStream(make, ahead=ahead, name=name).items()


class ThreadedStream(Generic[T]):
    """The worker of :func:`stream_in_thread`, started at once: it fetches up to ``ahead``
    items before anyone asks (the fetch ahead of ``cwpro load``). :meth:`items` hands them
    over, once; :meth:`close` (also at the end of :meth:`items`) cancels and joins."""

    def __init__(
        self, make: Callable[[], AsyncIterator[T]], *, ahead: int = 4, name: str = "cwpro-dlt"
    ) -> None:
        if ahead < 1:
            raise ValueError(f"ahead must be >= 1, got {ahead}")
        self._handoff: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._loop = loop = asyncio.new_event_loop()
        self._room = asyncio.Semaphore(ahead)
        self._task = loop.create_task(self._produce(make))

        def work() -> None:
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(self._task)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

        self._worker = threading.Thread(target=work, name=name, daemon=True)
        self._worker.start()

    async def _produce(self, make: Callable[[], AsyncIterator[T]]) -> None:
        handoff = self._handoff
        try:
            async with closing(make()) as stream:
                async for item in stream:
                    await self._room.acquire()
                    handoff.put((_ITEM, item))
        except asyncio.CancelledError:
            handoff.put((_END, None))
            raise
        except BaseException as exc:  # raised again in the consumer's thread
            handoff.put((_ERROR, exc))
        else:
            handoff.put((_END, None))

    def items(self) -> Iterator[T]:
        """The items, in order; the stream's error raised here; closed when this ends."""
        try:
            while True:
                kind, value = self._handoff.get()
                if kind == _END:
                    return
                if kind == _ERROR:
                    raise value
                with contextlib.suppress(RuntimeError):  # the stream ended after this item
                    self._loop.call_soon_threadsafe(self._room.release)
                yield value
        finally:
            self.close()

    def close(self) -> None:
        """Cancel the stream (its client closes) and wait for the worker to end."""
        if self._worker.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: it is done
                self._loop.call_soon_threadsafe(self._task.cancel)
            self._worker.join(JOIN_TIMEOUT)
