"""Who runs the private loop: a caller with no loop runs it in its own thread, also after the
helper thread (callers inside event loops) or other threads have had it."""

from __future__ import annotations

import asyncio
import threading

import cwpro_sync


async def loop_thread() -> int:
    """The id of the thread running the loop this awaitable runs on."""
    await asyncio.sleep(0)
    return threading.get_ident()


def test_a_caller_without_a_loop_runs_the_loop_itself(client: cwpro_sync.Client) -> None:
    me = threading.get_ident()
    assert client._bridge.run(loop_thread()) == me

    async def inside_a_loop() -> int:
        return client._bridge.run(loop_thread())  # served by the helper thread

    assert asyncio.run(inside_a_loop()) != me
    assert client._bridge.run(loop_thread()) == me  # the helper let go of the loop

    barrier = threading.Barrier(4)
    seen: list[int] = []

    def worker() -> None:
        barrier.wait()
        for _ in range(20):
            seen.append(client._bridge.run(loop_thread()))
            client.work_types.list(limit=1).first_page()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(seen) == 80
    assert client._bridge._engine.driver is None  # nobody holds the loop once all are done
    assert client._bridge.run(loop_thread()) == me
    assert client.sites.list(limit=1).first_page().items


def test_a_call_cancelled_before_its_first_step_still_completes() -> None:
    """Ctrl-C can land between handing a call to the loop and the loop starting it: the
    cancellation must still reach the call's own code, or its caller would wait forever."""
    from cwpro_sync._bridge import Bridge, _Call

    async def aclose() -> None:
        pass

    bridge = Bridge(aclose)
    engine = bridge._engine
    started: list[bool] = []

    async def work() -> None:
        started.append(True)
        await asyncio.sleep(10)

    call = _Call(work())
    engine._start(call)
    engine._cancel(call)  # before the loop ran the task's first step
    engine.loop.run_until_complete(asyncio.sleep(0.05))
    assert started == [True]
    assert call.done and isinstance(call.error, asyncio.CancelledError)
    bridge.close()
    assert engine.loop.is_closed()
