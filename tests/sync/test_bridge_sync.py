"""How the blocking client runs: threads, callers inside event loops, streaming, cancellation,
KeyboardInterrupt, fork, closing and garbage collection."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import cwpro_sync
from cwpro import CwproError, NotFoundError
from cwpro.emulator import EmulatorThread
from cwpro.webhooks import InMemorySeenStore, WebhookEvent
from tests._support import needs_sigint, send_sigint_after

from .conftest import make_sync_client

# Calls that must end without waiting for their answer: the answer takes SLOW_ANSWER_MS, far
# longer than the bound NOT_WAITED_S, so the check holds however loaded the machine is (these are
# liveness bounds, not performance figures).
SLOW_ANSWER_MS = 4_000
NOT_WAITED_S = 2.0


def loop_tasks(client: cwpro_sync.Client) -> set[asyncio.Task[Any]]:
    """Tasks still pending on the client's private loop (white box: nothing should linger)."""
    loop = client._bridge._engine.loop
    return set() if loop is None else {t for t in asyncio.all_tasks(loop) if not t.done()}


@pytest.mark.slow
def test_32_threads_share_one_client(client: cwpro_sync.Client) -> None:
    ids = [wo.id for wo in client.workorders.list(limit=100)][:100]
    errors: list[BaseException] = []
    mismatches: list[tuple[str, str]] = []
    start = threading.Barrier(32)

    def worker(offset: int) -> None:
        start.wait()
        try:
            for i in range(100):
                wanted = ids[(offset + i) % len(ids)]
                got = client.workorders.get(wanted).id
                if got != wanted:
                    mismatches.append((wanted, got))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "deadlock: a worker never finished"
    assert errors == []
    assert mismatches == []
    assert not loop_tasks(client)


def test_threads_mix_drivers_and_callers_inside_event_loops(client: cwpro_sync.Client) -> None:
    ids = [wo.id for wo in client.workorders.list(limit=20).first_page().items]
    results: list[bool] = []

    def plain() -> None:
        results.extend(client.workorders.get(i).id == i for i in ids)

    def inside_loop() -> None:
        async def main() -> None:
            results.extend(client.workorders.get(i).id == i for i in ids)

        asyncio.run(main())

    threads = [threading.Thread(target=plain if n % 2 else inside_loop) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [True] * (8 * len(ids))


def test_call_from_inside_asyncio_run_leaves_the_callers_loop_alone(
    client: cwpro_sync.Client,
) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        names = [client.work_types.get(t.id).name for t in client.work_types.list(limit=3)]
        assert client._bridge._engine.loop is not loop
        assert asyncio.all_tasks(loop) == {asyncio.current_task()}
        for wo in client.workorders.list(limit=5):  # iteration from inside a loop, with a break
            if wo:
                break
        with pytest.raises(NotFoundError):
            client.sites.get("0" * 24)
        return names

    names = asyncio.run(main())
    assert len(names) == 8
    assert not loop_tasks(client)


def test_iteration_streams_page_by_page(client: cwpro_sync.Client) -> None:
    paginator = client.workorders.list(limit=10, prefetch=1)
    items = iter(paginator)
    first = next(items)
    assert first is not None
    assert paginator.pages_fetched <= 2  # the page handed out, plus at most the prefetched one
    rest = list(items)
    assert len(rest) + 1 == client.workorders.list(limit=1).first_page().total_results
    assert paginator.exhausted and paginator.resume_cursor is None
    assert not loop_tasks(client)


def test_prefetch_overlaps_a_slow_consumer(
    client: cwpro_sync.Client, emu: EmulatorThread, latency: Callable[[float], None]
) -> None:
    """While the caller blocks on a page, the next page's request has reached the server
    (checked by the server's request count, not by timing)."""
    client.workorders.list(limit=1).first_page()
    latency(20)
    before = emu.stats["GET /workorders"]
    seen: list[tuple[int, int]] = []
    for index, _ in enumerate(client.workorders.list(limit=30, prefetch=1).pages()):
        time.sleep(0.1)  # blocking work, several round trips long
        seen.append((index, emu.stats["GET /workorders"] - before))
    for index, requested in seen[:-1]:
        assert requested >= index + 2, seen


@pytest.mark.parametrize("how", ["break", "close", "garbage"])
def test_stopping_early_cancels_the_prefetch(
    client: cwpro_sync.Client, latency: Callable[[float], None], how: str
) -> None:
    client.workorders.list(limit=1).first_page()  # token and connection ready
    latency(SLOW_ANSWER_MS)
    paginator = client.workorders.list(limit=5, prefetch=2)
    if how == "break":
        for _ in paginator:  # the first page is here; the next ones are being fetched
            started = time.perf_counter()
            break
    else:
        items = iter(paginator)
        next(items)
        started = time.perf_counter()
        if how == "close":
            items.close()
        else:
            del items
            gc.collect()
    elapsed = time.perf_counter() - started
    assert elapsed < NOT_WAITED_S, f"stopping waited for the prefetch ({elapsed:.2f} s)"
    assert not loop_tasks(client)
    latency(0)
    assert client.work_types.list(limit=1).first_page().items  # still usable


def test_calling_from_the_clients_own_loop_is_refused(client: cwpro_sync.Client) -> None:
    since = client.webhooks.list(limit=1).first_page().items[0].created_date

    async def handler(event: WebhookEvent) -> None:
        client.sites.list(limit=1).first_page()  # blocking call from inside the client's loop

    with pytest.raises(CwproError, match="inside its own event loop"):
        client.webhooks.backfill(since=since, handler=handler, seen=InMemorySeenStore())
    assert client.sites.list(limit=1).first_page().items


def test_close_from_another_thread_ends_calls_in_flight(
    emu: EmulatorThread, latency: Callable[[float], None]
) -> None:
    client = make_sync_client(emu)
    client.work_types.list(limit=1).first_page()
    latency(SLOW_ANSWER_MS)
    outcome: list[BaseException] = []

    def slow_call() -> None:
        try:
            client.workorders.list(limit=1).first_page()
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.2)
    started = time.perf_counter()
    client.close()
    caller.join(NOT_WAITED_S)
    assert not caller.is_alive()
    assert time.perf_counter() - started < NOT_WAITED_S  # did not wait for the answer
    assert len(outcome) == 1 and isinstance(outcome[0], CwproError)
    assert client._bridge._engine.loop is not None and client._bridge._engine.loop.is_closed()


def test_garbage_collection_closes_the_client(emu: EmulatorThread) -> None:
    before = threading.active_count()

    async def helper_thread_call(client: cwpro_sync.Client) -> None:
        client.work_types.list(limit=1).first_page()  # served by the helper thread

    client = make_sync_client(emu)
    asyncio.run(helper_thread_call(client))
    engine, async_client = client._bridge._engine, client._async  # not the bridge: it keeps it open
    del client
    gc.collect()
    assert engine.closed and async_client.closed
    assert engine.loop is not None and engine.loop.is_closed()
    assert threading.active_count() == before  # the helper thread is gone too


@needs_sigint
@pytest.mark.parametrize("path", ["caller runs the loop", "another thread runs the loop"])
def test_keyboard_interrupt_cancels_the_call(
    client: cwpro_sync.Client, latency: Callable[[float], None], path: str
) -> None:
    assert threading.current_thread() is threading.main_thread()
    client.workorders.list(limit=1).first_page()
    latency(SLOW_ANSWER_MS)
    other = None
    if path == "another thread runs the loop":
        other = threading.Thread(target=lambda: client.work_types.list(limit=1).first_page())
        other.start()
        time.sleep(0.1)  # that thread holds the loop; this call waits for it to run ours
    send_sigint_after(0.3)
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        client.sites.list(limit=1).first_page()
    assert time.perf_counter() - started < NOT_WAITED_S  # did not wait for the answer
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    latency(0)
    if other is not None:
        other.join(10)
    assert client.sites.list(limit=1).first_page().items  # the client stays usable
    assert not loop_tasks(client)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_a_clear_error(client: cwpro_sync.Client) -> None:
    client.work_types.list(limit=1).first_page()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            client.work_types.list(limit=1).first_page()
        except CwproError as exc:
            os.write(write_end, str(exc).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the forked child hung")
        time.sleep(0.02)
    message = os.read(read_end, 4096).decode()
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert "create a new Client" in message
    assert client.work_types.list(limit=1).first_page().items  # the parent is unaffected


def test_a_walk_over_an_unnamed_client_completes(emu: EmulatorThread) -> None:
    """``for wo in Client(...).workorders.list()``: what the walk holds keeps the client open."""
    with make_sync_client(emu) as named:
        total = named.workorders.list(limit=1).first_page().total_results
    assert total
    paginator = make_sync_client(emu).workorders.list(limit=10)
    engine = paginator._bridge._engine
    count = 0
    for page in paginator.pages():
        gc.collect()  # the client object itself is long gone
        count += len(page.items)
    assert count == total
    ids = []
    for wo in make_sync_client(emu).workorders.list(limit=25):
        if len(ids) % 25 == 0:
            gc.collect()
        ids.append(wo.id)
    assert len(ids) == len(set(ids)) == total
    view = make_sync_client(emu).with_options(timeout=5)
    gc.collect()
    assert view.sites.list(limit=1).first_page().items
    assert not engine.closed
    del paginator, page
    gc.collect()
    assert engine.closed and engine.loop is not None and engine.loop.is_closed()
