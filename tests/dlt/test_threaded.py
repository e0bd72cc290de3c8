"""``cwpro.dlt._threaded.stream_in_thread``: what a blocking consumer of an async stream is owed."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("dlt")

from cwpro.dlt._threaded import stream_in_thread
from cwpro.emulator import EmulatorThread

from ..conftest import make_client


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cwpro-dlt-test")]


def test_items_arrive_in_order_and_the_thread_is_gone_after_the_end() -> None:
    async def numbers() -> AsyncIterator[int]:
        for n in range(50):
            await asyncio.sleep(0)
            yield n

    assert list(stream_in_thread(numbers, ahead=3, name="cwpro-dlt-test")) == list(range(50))
    assert _workers() == []


def test_the_producer_stays_at_most_ahead_items_in_front() -> None:
    produced: list[int] = []

    async def numbers() -> AsyncIterator[int]:
        for n in range(100):
            produced.append(n)
            yield n

    stream = stream_in_thread(numbers, ahead=4, name="cwpro-dlt-test")
    assert next(stream) == 0
    threading.Event().wait(0.2)  # let the worker run as far as it may
    assert len(produced) <= 1 + 4 + 1  # the one taken, `ahead` queued, one waiting for room
    stream.close()
    assert _workers() == []


def test_an_error_of_the_stream_is_raised_in_the_consumer() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise LookupError("page 2 is gone")

    stream = stream_in_thread(failing, name="cwpro-dlt-test")
    assert next(stream) == 1
    with pytest.raises(LookupError, match="page 2 is gone"):
        next(stream)
    assert _workers() == []


def test_closing_early_runs_the_streams_cleanup_and_joins_the_worker() -> None:
    cleaned = threading.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            n = 0
            while True:
                await asyncio.sleep(0.001)
                n += 1
                yield n
        finally:
            cleaned.set()

    stream = stream_in_thread(endless, name="cwpro-dlt-test")
    assert next(stream) == 1
    del stream
    gc.collect()
    assert cleaned.is_set() and _workers() == []


async def test_a_client_inside_is_closed_when_the_consumer_stops() -> None:
    """Run from inside a running loop, as in Jupyter; the leak detector of conftest watches."""
    sessions: list[object] = []
    with EmulatorThread(seed=2, workorders=100) as emulator:
        _walk_and_stop(emulator, sessions)
    assert sessions and sessions[0].closed  # type: ignore[attr-defined]


def _walk_and_stop(emulator: EmulatorThread, sessions: list[object]) -> None:
    async def pages() -> AsyncIterator[list[str]]:
        async with make_client(emulator) as client:
            sessions.append(client)
            async for page in client.workorders.list(limit=10).pages():
                yield [wo.id for wo in page.items]

    stream = stream_in_thread(pages, name="cwpro-dlt-test")
    first = next(stream)
    assert len(first) == 10
    stream.close()
    assert _workers() == []
