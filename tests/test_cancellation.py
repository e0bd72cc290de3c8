"""Resource hygiene under cancellation at random (seeded) points, over real loopback HTTP.

After every interruption -- a task cancelled mid-request (before the headers, mid-body, in a
retry's backoff, during a token refresh), a ``break`` at a random page or item of a cursor walk
or an export, a ``KeyboardInterrupt`` while the blocking client waits -- these must hold:

* no task is left pending (the test's loop, or the blocking client's private loop);
* no pooled connection stays checked out (a cancelled request gives its connection back);
* the client is still usable, and closing it leaves no unclosed session or connector.

The test run itself fails on "Unclosed client session", "Task was destroyed but it is
pending" and "exception was never retrieved" (see ``conftest.py``); ``gc.collect()`` at the end
of each test makes such reports surface inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import cwpro
import cwpro_sync
from cwpro.emulator import EmulatorThread
from tests._support import needs_sigint, send_sigint_after
from tests.conftest import make_client
from tests.sync.conftest import make_sync_client

SEEDS = range(8)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    """An emulator on its own thread, so the test's loop holds only the client's tasks."""
    with EmulatorThread(seed=31, workorders=150, sites=6, work_types=6, portal_links=0) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean_emulator(emu: EmulatorThread) -> Iterator[None]:
    yield
    emu.latency_ms = 0
    emu.faults.clear()


def client_for(emu: EmulatorThread, **options: Any) -> cwpro.AsyncClient:
    return make_client(emu, **{"retry_backoff_max": 0.1, "timeout": 5, **options})


def pending_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]


async def settle() -> None:
    """Let the loop finish what cancellation started (async-generator finalizers run
    ``aclose()`` in tasks of their own); give up after a short while."""
    for _ in range(40):
        await asyncio.sleep(0.005)
        if not pending_tasks():
            return


def connections_in_use(client: cwpro.AsyncClient) -> int:
    session = client._transport._session
    if session is None:
        return 0
    connector: Any = session.connector
    return len(connector._acquired)  # white box: connections checked out of the pool


async def assert_clean(client: cwpro.AsyncClient, what: str) -> None:
    await settle()
    assert not pending_tasks(), f"{what}: pending {pending_tasks()}"
    assert connections_in_use(client) == 0, f"{what}: a connection was not given back"


# -- a task cancelled at a random point of a request ---------------------------------------------
SCENARIOS = ["latency", "slow_body", "backoff", "token_refresh", "list_prefetch", "export"]


async def _start(scenario: str, emu: EmulatorThread, client: cwpro.AsyncClient, wo_id: str) -> Any:
    """Arrange the emulator for ``scenario``; return the coroutine to run and cancel."""
    if scenario == "latency":
        emu.latency_ms = 40
        return client.workorders.get(wo_id)
    if scenario == "slow_body":  # headers and half the body arrive, then a pause
        emu.add_fault("slow_body", delay=0.08, route="GET /workorders/*", times=1)
        return client.workorders.get(wo_id)
    if scenario == "backoff":  # two 503s: the cancellation often lands in the backoff sleep
        emu.add_fault("status", status=503, route="GET /workorders/*", times=2)
        return client.with_options(max_retries=3).workorders.get(wo_id)
    if scenario == "token_refresh":  # the token is refused: cancel during refresh and replay
        emu.latency_ms = 15
        emu.expire_tokens()
        return client.workorders.get(wo_id)
    if scenario == "list_prefetch":
        emu.latency_ms = 5
        return client.workorders.list(limit=10, prefetch=3).to_list()
    emu.latency_ms = 5
    return _export_all(client)


async def _export_all(client: cwpro.AsyncClient) -> list[Any]:
    parts = [{"in_": {"status": [s]}} for s in ("draft", "open", "scheduled", "completed")]
    return [wo async for wo in client.workorders.export(parts, concurrency=3, limit=8)]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_cancelling_a_request_at_a_random_point_leaks_nothing(
    emu: EmulatorThread, scenario: str
) -> None:
    async with client_for(emu, retry_backoff_base=0.05) as client:
        wo_id = (await client.workorders.list(limit=1)).items[0].id
        outcomes: set[str] = set()
        for seed in SEEDS:
            rng = random.Random(seed)
            task = asyncio.ensure_future(await_it(await _start(scenario, emu, client, wo_id)))
            await asyncio.sleep(rng.uniform(0, 0.06))
            task.cancel()
            try:
                await task
                outcomes.add("finished")
            except asyncio.CancelledError:
                outcomes.add("cancelled")
            emu.latency_ms = 0
            emu.faults.clear()
            await assert_clean(client, f"{scenario} seed {seed}")
            assert (await client.workorders.get(wo_id)).id == wo_id  # still usable
        assert "cancelled" in outcomes, (
            "no cancellation landed mid-request: the test proves nothing"
        )
    assert client.closed and client._transport._session is None
    gc.collect()


async def await_it(awaitable: Any) -> Any:
    return await awaitable


# -- break at a random page or item -------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
async def test_break_at_a_random_page_or_item_leaks_nothing(emu: EmulatorThread, seed: int) -> None:
    rng = random.Random(seed)
    emu.latency_ms = rng.choice([0, 2])
    async with client_for(emu) as client:
        stop_at = rng.randint(0, 120)
        how = rng.choice(["items", "pages", "export-items", "export-pages", "aclosing"])
        limit, prefetch = rng.randint(3, 25), rng.randint(0, 3)
        seen = 0
        if how == "items":
            async for _ in client.workorders.list(limit=limit, prefetch=prefetch):
                seen += 1
                if seen > stop_at:
                    break
        elif how == "pages":
            async for page in client.workorders.list(limit=limit, prefetch=prefetch).pages():
                seen += len(page)
                if seen > stop_at:
                    break
        elif how == "aclosing":  # explicit close: nothing may be pending right away
            pages = client.workorders.list(limit=limit, prefetch=prefetch).pages()
            async with contextlib.aclosing(pages):
                async for page in pages:
                    seen += len(page)
                    if seen > stop_at:
                        break
            assert not pending_tasks()
        else:
            parts = cwpro.split_range("created_date", *(await _date_bounds(client)), 4)
            export = client.workorders.export(
                parts, concurrency=rng.randint(1, 4), ordered=rng.random() < 0.5, limit=limit
            )
            if how == "export-items":
                async for _ in export:
                    seen += 1
                    if seen > stop_at:
                        break
            else:
                async for _, page in export.pages():
                    seen += len(page)
                    if seen > stop_at:
                        break
        await assert_clean(client, f"break ({how}) after {seen} items")
    gc.collect()


async def _date_bounds(client: cwpro.AsyncClient) -> tuple[Any, Any]:
    first = await client.workorders.list(limit=1, sort_by="created_date:asc")
    last = await client.workorders.list(limit=1, sort_by="created_date:desc")
    return first.items[0].created_date, last.items[0].created_date


# -- the blocking client -----------------------------------------------------------------------------
def sync_client_for(emu: EmulatorThread) -> cwpro_sync.Client:
    return make_sync_client(emu, timeout=5)


def loop_tasks(client: cwpro_sync.Client) -> set[asyncio.Task[Any]]:
    """Tasks still pending on the blocking client's private loop (white box)."""
    loop = client._bridge._engine.loop
    return set() if loop is None else {t for t in asyncio.all_tasks(loop) if not t.done()}


def sync_connections_in_use(client: cwpro_sync.Client) -> int:
    return connections_in_use(client._async)


@pytest.mark.parametrize("seed", range(8))
def test_blocking_break_at_a_random_item_leaks_nothing(emu: EmulatorThread, seed: int) -> None:
    rng = random.Random(seed)
    with sync_client_for(emu) as client:
        stop_at = rng.randint(0, 100)
        limit, prefetch = rng.randint(3, 25), rng.randint(0, 3)
        iterable: Any
        if rng.random() < 0.5:
            iterable = client.workorders.list(limit=limit, prefetch=prefetch)
        else:
            parts = [{"in_": {"status": [s]}} for s in ("draft", "open", "scheduled", "on_hold")]
            iterable = client.workorders.export(parts, concurrency=rng.randint(1, 3), limit=limit)
        for seen, _ in enumerate(iterable):
            if seen >= stop_at:
                break
        assert not loop_tasks(client)
        assert sync_connections_in_use(client) == 0
        assert client.workorders.list(limit=2).first_page().items  # still usable
    gc.collect()


@needs_sigint
@pytest.mark.parametrize("seed", range(6))
def test_keyboard_interrupt_while_iterating_leaks_nothing(emu: EmulatorThread, seed: int) -> None:
    assert threading.current_thread() is threading.main_thread()
    rng = random.Random(seed)
    with sync_client_for(emu) as client:
        client.workorders.list(limit=1).first_page()  # token fetched, connection pooled
        emu.latency_ms = 60
        what = rng.choice(["walk", "export", "get"])
        timer = send_sigint_after(rng.uniform(0.02, 0.3))
        got = 0
        started = time.perf_counter()
        try:
            with pytest.raises(KeyboardInterrupt):
                if what == "walk":
                    for _ in client.workorders.list(limit=5, prefetch=rng.randint(0, 2)):
                        got += 1
                elif what == "export":
                    parts = [{"in_": {"status": [s]}} for s in ("draft", "open", "completed")]
                    for _ in client.workorders.export(parts, concurrency=2, limit=5):
                        got += 1
                else:
                    while True:
                        client.workorders.list(limit=1).first_page()
                        got += 1
        finally:
            timer.join()
        assert time.perf_counter() - started < 5
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert not loop_tasks(client), f"{what}: pending after Ctrl-C"
        assert sync_connections_in_use(client) == 0
        emu.latency_ms = 0
        assert client.workorders.list(limit=2).first_page().items  # still usable
    assert client.closed
    gc.collect()


# -- a second cancellation while the clean-up waits ----------------------------------------------
@pytest.mark.parametrize("where", ["export", "list"])
async def test_a_second_cancel_during_clean_up_still_cancels_every_fetch(
    emu: EmulatorThread, where: str
) -> None:
    """A timeout or Ctrl-C inside an already cancelled task: the clean-up is interrupted.

    The first cancellation lands while the consumer waits for a page (every walk's fetch hangs
    at the emulator); the clean-up waits for the fetches it cancelled, and the second lands in
    that wait. No fetch may run on after the consumer is gone (the window where a page arrives
    in the same loop iteration: test_pagination_unit.py).
    """
    async with client_for(emu, timeout=10) as client:
        parts = cwpro.split_range("created_date", *(await _date_bounds(client)), 3)

        async def consume() -> None:
            if where == "export":
                async for _ in client.workorders.export(parts, concurrency=3, limit=5, prefetch=2):
                    await asyncio.sleep(0)
            else:
                async for _ in client.workorders.list(limit=5, prefetch=2):
                    await asyncio.sleep(0)

        emu.latency_ms = 50  # ~10 pages per walk, one after the other: it outlasts 0.3 s
        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.3)  # pages arrive; fetches are ahead
        emu.latency_ms = 1500  # longer than settle(): a leaked fetch is still pending after it
        await asyncio.sleep(0.2)  # what was fetched is consumed: the consumer waits for a page
        assert not task.done()
        task.cancel()
        await asyncio.sleep(0)  # the consumer enters its clean-up and waits there
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle()
        assert not pending_tasks(), f"{where}: fetches outlived the consumer: {pending_tasks()}"
        emu.latency_ms = 0
        await assert_clean(client, f"{where} cancelled twice")
    gc.collect()
