"""The one hand-written module of ``cwpro_sync``: running the async client from blocking code.

Everything else in ``cwpro_sync`` is generated from ``cwpro`` by ``scripts/generate_sync.py``
and calls into this thin bridge. A :class:`Bridge` owns one private event loop (created on
first use) on which the client's ``AsyncClient`` always runs: an aiohttp session is bound to
the loop it was created on, so there is exactly one loop per client, whichever thread calls.

Who runs the private loop: the caller, when it can
--------------------------------------------------
An asyncio loop can be run by one thread at a time, and only by a thread in which no other loop
is running. The bridge passes a *baton* -- the right to run the private loop -- between threads:

* **No hop (the common case).** A caller thread with no running loop of its own that finds the
  baton free takes it, creates its task on the private loop and runs the loop itself until that
  task is done (the task's last step stops the loop), then passes the baton on. No thread
  switch at all: the cost over ``await`` is starting and stopping the loop.
* **Followers.** A caller that finds the baton taken submits its coroutine with
  ``call_soon_threadsafe`` and blocks on a lock of its own. The holder's loop runs that task
  alongside its own (32 threads sharing a client really run concurrently on the loop); the
  task's last step releases the lock: one thread hop. When the holder's own task is done, it
  hands the baton to a waiting caller that can run the loop, which goes on running everybody's
  tasks until its own is done.
* **Helper thread.** A caller that cannot run the loop -- a loop is already running in its
  thread: inside ``asyncio.run``, Jupyter, an async framework -- submits its task the same way;
  if nobody holds the baton, a daemon helper thread (started on first need) runs the loop until
  no submitted task is left, and lingers ``HELPER_LINGER`` seconds so the next such call wakes a
  running loop. The caller's own loop is never touched.
* Calling the blocking client from *inside* its private loop (from an async handler the client
  itself runs) would deadlock; it raises :class:`cwpro.CwproError` instead.

Each call's outcome is stored by the task itself, so the SDK's exceptions are re-raised with
their original type and traceback. ``KeyboardInterrupt``: while the main thread is blocked in a
call, a SIGINT handler (installed only over the default one, as ``asyncio.run`` does) cancels
the in-flight task and wakes the loop; once the task has unwound (connection released, nothing
left pending) the call raises ``KeyboardInterrupt`` and the client stays usable. A second
Ctrl-C raises at once. After ``os.fork()`` the child's copy refuses every call with a
``CwproError`` (the loop's selector and sockets belong to the parent) without touching a lock
copied from the parent, so it cannot hang. ``close()`` -- or the ``weakref.finalize`` hook, also
run at interpreter exit -- closes the async client, cancels what is left, closes the async
generators and the loop, and stops the helper thread.

:meth:`Bridge.iterate` turns an async iterator (a paginator's ``pages()``) into a blocking
generator fetching one element per call, so the async paginator's own prefetch does the work;
closing that generator (``break``, ``.close()``, garbage collection) ``aclose()``-s the async
generator on the private loop, which cancels its in-flight fetches.

Measurements
------------
``python benchmarks/bench_sync_overhead.py --alternatives --rounds 40 --calls 25``: one
``workorders.get`` per call against the emulator in another process; blocks of 25 calls
alternate between the variants, 40 rounds; the ratio to the async call is taken per round and
its median (interquartile range) reported. Three runs on the 2-core project machine while other
jobs kept its load at 3-3.5 (async call ~650-810 us, about twice the quiet-machine figure):

=================================================  =============  =============  =============
sync / async wall time                             run 1          run 2          run 3
=================================================  =============  =============  =============
this bridge, caller runs the loop (no hop)         1.22 (.95-1.4) 1.12 (1.0-1.4) 1.25 (1.0-1.3)
this bridge, caller inside a running loop (hop)    1.22 (1.1-1.7) 1.36 (1.2-1.7) 1.28 (1.1-1.4)
minimal hand-rolled thread hop                     1.30 (1.0-1.7) 1.33 (1.2-1.8) 1.26 (1.1-1.4)
``asyncio.run_coroutine_threadsafe``               1.38 (1.1-1.6) 1.37 (1.1-1.7) 1.33 (1.1-1.7)
anyio blocking portal                              1.55 (1.3-1.9) 1.67 (1.4-2.1) 1.51 (1.4-1.6)
=================================================  =============  =============  =============

The no-hop path costs exactly what ``loop.run_until_complete`` costs (measured side by side on
a raw aiohttp GET: 1.11x vs 1.13x, anyio portal 1.64x): one more loop iteration per call than
``await`` (starting the task), plus starting and stopping the loop -- about 10-25 us of CPU.
The reference on a quiet machine puts that design at 1.08-1.13x and a thread hop at 1.17-1.24x;
here too the no-hop path is the cheapest (or tied) in every run, so callers take it whenever
they can and hop only when their thread already runs a loop. Streaming 2,000 work orders (100
per page) costs the same per item sync and async (1.01-1.15x, noise included): one bridge call
per page.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import inspect
import logging
import os
import signal
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

from cwpro import CwproError

__all__ = ["HELPER_LINGER", "Bridge", "RawResponseProxy", "close_on_collect"]

logger = logging.getLogger("cwpro.sync")

T = TypeVar("T")

FORK_MESSAGE = (
    "this cwpro_sync.Client was created in another process (before os.fork()); its event loop "
    "and connections belong to the parent: create a new Client in the child process"
)
CLOSED_MESSAGE = "this cwpro_sync.Client is closed; create a new one"
CLOSED_DURING_CALL = "the cwpro_sync.Client was closed while this call was running"
REENTRANT_MESSAGE = (
    "the blocking client cannot be called from inside its own event loop (e.g. from an async "
    "handler the client runs); await the cwpro.AsyncClient there instead"
)

#: Seconds the helper thread keeps running the loop after its last submitted call finished.
HELPER_LINGER = 0.1
#: Seconds ``close()`` waits for other threads' calls to let go of the loop.
FINISH_TIMEOUT = 10.0

# -- fork detection: a counter bumped in the child, compared without any lock or syscall ------
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

# -- SIGINT: the C module's functions (signal.signal/getsignal add ~10 us of enum conversions) --
try:
    _raw_signal: Any = importlib.import_module("_signal")
except ImportError:  # pragma: no cover - other interpreters
    _raw_signal = signal
_SIGINT = int(signal.SIGINT)
_DEFAULT_SIGINT_HANDLER = signal.default_int_handler
_MAIN_THREAD_ID = threading.main_thread().ident

_get_running_loop = asyncio.events._get_running_loop

_OPEN, _CLOSING, _CLOSED = "open", "closing", "closed"


class _Helper:
    """Marks the helper thread as the baton holder."""


_HELPER = _Helper()


class _Call:
    """One awaitable run through the bridge: its outcome, and how its caller learns of it."""

    __slots__ = (
        "awaitable",
        "baton",
        "can_drive",
        "error",
        "finished",
        "interrupted",
        "result",
        "signal",
        "task",
    )

    def __init__(self, awaitable: Awaitable[Any], can_drive: bool) -> None:
        self.awaitable = awaitable
        #: No event loop runs in the caller's thread, so it may run the private loop.
        self.can_drive = can_drive
        #: This call's thread holds the baton (set before it runs the loop, never while).
        self.baton = False
        self.finished = False
        self.interrupted = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None
        #: A held lock, released once: when the call finished, or when the baton is handed over.
        self.signal: Any = None


def _discard(awaitable: Awaitable[Any]) -> None:
    """Close a coroutine that will never run (no "never awaited" warning)."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


def _held_lock() -> Any:
    lock = threading.Lock()
    lock.acquire()
    return lock


async def _anext(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


class Bridge:
    """Runs awaitables on one private event loop for any number of blocking callers.

    ``close`` is the async client's ``close``: :meth:`close` awaits it before shutting the loop
    down. See the module docstring for who runs the loop.
    """

    def __init__(self, close: Callable[[], Awaitable[None]] | None = None) -> None:
        self._aclose = close
        self._mutex = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holder: _Call | _Helper | None = None
        self._waiters: dict[_Call, None] = {}
        self._drivable: collections.deque[_Call] = collections.deque()
        self._state = _OPEN
        self._generation = _fork_generation
        self._finished = False
        self._finished_event = threading.Event()
        self._helper: threading.Thread | None = None
        self._helper_wake = _held_lock()
        self._helper_exit = False
        self._drained_at = 0.0
        self._background: set[asyncio.Task[Any]] = set()

    # -- public ------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once :meth:`close` started."""
        return self._state != _OPEN

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the private loop; return its result or raise its exception."""
        return self._run(awaitable, internal=False)

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """A blocking generator over an async iterator, one element per bridge call.

        Closing the generator early (``break``, ``.close()``, garbage collection) closes the
        async generator on the private loop, which cancels its in-flight work.
        """
        while True:
            try:
                element = self.run(_anext(iterator))
            except StopAsyncIteration:
                return
            try:
                yield element
            except GeneratorExit:
                self._close_iterator(iterator)
                raise

    def close(self) -> None:
        """Close the async client and the private loop; stop the helper thread (idempotent)."""
        if self._generation != _fork_generation:
            self._state = _CLOSED  # the parent owns the loop and the sockets: touch nothing
            return
        if self._loop is not None and _get_running_loop() is self._loop:
            # Called on the private loop (garbage collected there): a fresh thread can wait.
            try:
                threading.Thread(target=self.close, name="cwpro-sync-close", daemon=True).start()
            except RuntimeError:  # interpreter shutting down
                logger.debug("cwpro_sync: could not close a client collected on its own loop")
            return
        with self._mutex:
            if self._state != _OPEN:
                return
            self._state = _CLOSING
        try:
            self._run(self._shutdown(), internal=True)
        finally:
            with self._mutex:
                self._state = _CLOSED
                finish = self._holder is None and not self._waiters
            if finish:
                self._finish()
            elif not self._finished_event.wait(FINISH_TIMEOUT):
                logger.warning("cwpro_sync: the client's event loop was still busy after close()")

    # -- running one call --------------------------------------------------------------------
    def _run(self, awaitable: Awaitable[T], *, internal: bool) -> T:
        if self._generation != _fork_generation:
            _discard(awaitable)
            raise CwproError(FORK_MESSAGE)
        running = _get_running_loop()
        if running is not None and running is self._loop:
            _discard(awaitable)
            raise CwproError(REENTRANT_MESSAGE)
        call = _Call(awaitable, running is None)
        signal_lock = _held_lock()
        wake_helper = False
        with self._mutex:
            if self._state != _OPEN and not (internal and self._state == _CLOSING):
                _discard(awaitable)
                raise CwproError(CLOSED_MESSAGE)
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.new_event_loop()
            direct = self._holder is None and call.can_drive
            if direct:
                self._holder = call
                call.baton = True
            else:
                call.signal = signal_lock
                self._waiters[call] = None
                if call.can_drive:
                    self._drivable.append(call)
                elif self._holder is None:
                    self._holder = _HELPER
                    wake_helper = True
        if not direct:  # from here on the baton may be handed to this caller at any time
            loop.call_soon_threadsafe(self._start, call)
        if wake_helper:
            self._wake_helper()
        if threading.get_ident() == _MAIN_THREAD_ID and (
            _raw_signal.getsignal(_SIGINT) is _DEFAULT_SIGINT_HANDLER
        ):
            self._complete_interruptible(call, direct)
        else:
            self._complete(call, direct)
        result: T = self._outcome(call)
        return result

    def _complete_interruptible(self, call: _Call, direct: bool) -> None:
        loop = self._loop
        assert loop is not None

        def on_sigint(signum: int, frame: FrameType | None) -> None:
            if call.interrupted or loop.is_closed():
                raise KeyboardInterrupt
            call.interrupted = True
            loop.call_soon_threadsafe(self._cancel, call)

        _raw_signal.signal(_SIGINT, on_sigint)
        try:
            self._complete(call, direct)
        finally:
            if _raw_signal.getsignal(_SIGINT) is on_sigint:
                _raw_signal.signal(_SIGINT, _DEFAULT_SIGINT_HANDLER)

    def _complete(self, call: _Call, direct: bool) -> None:
        if direct:
            self._start(call)
            self._drive(call)
        else:
            self._wait(call)

    def _outcome(self, call: _Call) -> Any:
        error, call.error = call.error, None
        if call.interrupted:
            raise KeyboardInterrupt
        if error is None:
            return call.result
        if isinstance(error, asyncio.CancelledError) and self._state != _OPEN:
            raise CwproError(CLOSED_DURING_CALL) from None
        raise error

    def _start(self, call: _Call) -> None:
        """Create the call's task (on the loop thread, or by the baton holder before running)."""
        loop = self._loop
        assert loop is not None
        call.task = loop.create_task(self._execute(call))

    async def _execute(self, call: _Call) -> None:
        """The call's task: await, keep the outcome, and tell the caller in the same step."""
        try:
            call.result = await call.awaitable
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit) as exc:
            call.error = exc
            raise
        except BaseException as exc:  # kept for the caller, who re-raises it
            call.error = exc
        finally:
            self._finished_call(call)

    def _cancel(self, call: _Call) -> None:
        if call.task is not None:
            call.task.cancel()

    def _finished_call(self, call: _Call) -> None:
        """On the loop, as the call's task ends: stop the loop for its holder or wake its caller."""
        call.finished = True
        loop = self._loop
        assert loop is not None
        if call.baton:  # its own thread is running the loop: stop after this step
            loop.stop()
            return
        with self._mutex:
            waiting = self._waiters.pop(call, 0) is None
            drained = self._holder is _HELPER and not self._waiters
        if waiting:
            call.signal.release()
        if drained:
            if self._state == _OPEN:
                self._drained_at = loop.time()  # the helper lingers: see _helper_idle_check
            else:
                loop.stop()

    def _drive(self, call: _Call) -> None:
        """Run the loop in this thread until ``call`` is done, then pass the baton on."""
        loop = self._loop
        assert loop is not None
        try:
            while not call.finished:
                loop.run_forever()
        finally:
            self._release()

    def _wait(self, call: _Call) -> None:
        try:
            call.signal.acquire()
        except BaseException:  # a second Ctrl-C: stop waiting, leave the baton in good hands
            with self._mutex:
                holds_baton = call.baton
                self._waiters.pop(call, None)
            if holds_baton:
                self._release()
            raise
        if call.baton:
            self._drive(call)

    def _release(self) -> None:
        """Hand the baton to a waiting caller able to run the loop, else the helper, else nobody."""
        successor: _Call | None = None
        wake_helper = finish = False
        with self._mutex:
            while self._drivable:
                candidate = self._drivable.popleft()
                if self._waiters.pop(candidate, 0) is None:  # still waiting
                    successor = candidate
                    break
            if successor is not None:
                successor.baton = True
                self._holder = successor
            elif self._waiters:
                self._holder = _HELPER
                wake_helper = True
            else:
                self._holder = None
                finish = self._state == _CLOSED
        if successor is not None:
            successor.signal.release()
        elif wake_helper:
            self._wake_helper()
        elif finish:
            self._finish()

    # -- helper thread -----------------------------------------------------------------------
    def _wake_helper(self) -> None:
        """Give the baton to the helper thread (only ever called by whoever made it holder)."""
        if self._helper is None:
            self._helper = threading.Thread(
                target=self._helper_main, name="cwpro-sync-loop", daemon=True
            )
            self._helper.start()
        self._helper_wake.release()

    def _helper_main(self) -> None:
        loop = self._loop
        assert loop is not None
        while True:
            self._helper_wake.acquire()
            if self._helper_exit:
                return
            self._drained_at = loop.time()
            check = loop.call_later(HELPER_LINGER, self._helper_idle_check)
            try:
                loop.run_forever()
            finally:
                check.cancel()
                self._release()

    def _helper_idle_check(self) -> None:
        """On the loop: stop the helper's run once nothing was submitted for ``HELPER_LINGER``."""
        loop = self._loop
        assert loop is not None
        with self._mutex:
            idle = not self._waiters and self._holder is _HELPER
        remaining = self._drained_at + HELPER_LINGER - loop.time()
        if idle and (remaining <= 0 or self._state != _OPEN):
            loop.stop()
        else:
            loop.call_later(max(remaining, HELPER_LINGER / 10), self._helper_idle_check)

    # -- closing -----------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self._aclose is not None:
                await self._aclose()
        finally:
            current = asyncio.current_task()
            others = [task for task in asyncio.all_tasks(loop) if task is not current]
            for task in others:
                task.cancel()
            if others:
                await asyncio.gather(*others, return_exceptions=True)
            await loop.shutdown_asyncgens()
            await loop.shutdown_default_executor()
            await asyncio.sleep(0)  # let closed transports run their connection_lost callbacks

    def _finish(self) -> None:
        """Close the loop and stop the helper (once, by whoever releases the baton last)."""
        with self._mutex:
            if self._finished:
                return
            self._finished = True
            loop, helper = self._loop, self._helper
        if helper is not None:
            self._helper_exit = True
            self._helper_wake.release()
            if helper is not threading.current_thread():
                helper.join(FINISH_TIMEOUT)
        if loop is not None:
            loop.close()
        self._finished_event.set()

    def _close_iterator(self, iterator: AsyncIterator[Any]) -> None:
        aclose = getattr(iterator, "aclose", None)
        if aclose is None or self._state != _OPEN or self._generation != _fork_generation:
            return  # closing the client closes every async generator of its loop
        loop = self._loop
        if loop is not None and _get_running_loop() is loop:
            # Collected on the private loop itself: cannot block here, close in the background.
            task = loop.create_task(aclose())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        try:
            self.run(aclose())
        except CwproError:
            if self._state == _OPEN:
                raise


class RawResponseProxy:
    """``resource.with_raw_response`` of the blocking client: the same methods, blocking."""

    def __init__(self, bridge: Bridge, proxy: Any) -> None:
        self._bridge = bridge
        self._proxy = proxy

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._proxy, name)
        bridge = self._bridge

        def call(*args: Any, **kwargs: Any) -> Any:
            return bridge.run(method(*args, **kwargs))

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call


def close_on_collect(owner: object, bridge: Bridge) -> Callable[[], None]:
    """Close ``bridge`` when ``owner`` is garbage collected or the interpreter exits.

    Returns the function that closes it now (at most once). The hook holds the bridge, never
    ``owner``, so it does not keep ``owner`` alive.
    """
    finalizer = weakref.finalize(owner, bridge.close)

    def close() -> None:
        finalizer()

    return close
