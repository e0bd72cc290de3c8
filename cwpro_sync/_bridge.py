"""Running the async client from blocking code (hand-written, like ``_raw_response``).

The generated modules of ``cwpro_sync`` call a :class:`Bridge`, which owns the one private
event loop its ``AsyncClient`` runs on (an aiohttp session belongs to its loop). At any time
one thread at most runs that loop -- the *driver*, who holds the baton:

* A caller whose thread runs no loop, finding the private loop idle, takes the baton and runs the
  loop itself until its call is done: no thread switch. Callers arriving meanwhile (from other
  threads, or from inside a running loop such as ``asyncio.run`` or Jupyter, which cannot run a
  second loop) hand their calls to the running loop and wait; their calls run concurrently with
  the driver's. A driver done while calls still wait hands the baton to a helper thread (started
  on first need), which runs the loop until no call waits, then lets go. A call from inside the
  private loop itself would deadlock: it raises :class:`cwpro.CwproError`.
* Ctrl-C: the ``KeyboardInterrupt`` reaching a caller while it runs or waits for the loop cancels
  its call's task; once that has unwound (connection released) the call raises
  ``KeyboardInterrupt`` and the client stays usable. A second Ctrl-C raises at once.
* After ``os.fork()`` the child's copy refuses every call, touching nothing the parent owns.
* :meth:`Bridge.close` -- also run once nothing holds the bridge, or at interpreter exit --
  closes the async client, cancels what is left, closes the loop and stops the helper thread.
  The client, its resources, paginators and their iterators all hold the bridge, so
  ``for wo in cwpro_sync.Client(...).workorders.list(): ...`` works.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, NoReturn, TypeVar, cast

from cwpro import CwproError

__all__ = ["Bridge"]

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
FINISH_TIMEOUT = 10.0  # seconds closing waits for another thread to let go of the loop
_HELPER = "helper thread"  # the driver while the helper thread runs the loop


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _refuse(awaitable: object, message: str) -> NoReturn:
    if asyncio.iscoroutine(awaitable):
        awaitable.close()  # it will never run: no "never awaited" warning
    raise CwproError(message)


class _Call:
    """One awaitable run on the private loop, and its outcome."""

    done = False
    result: Any = None
    error: BaseException | None = None
    task: asyncio.Task[None]
    wakeup: threading.Lock | None = None  # a waiting caller's: held until the call is done

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self.awaitable = awaitable


class _Engine:
    """The private loop and who runs it (the :class:`Bridge` is the handle everything holds)."""

    def __init__(self, aclose: Callable[[], Awaitable[None]]) -> None:
        self.aclose, self.loop, self.closed = aclose, asyncio.new_event_loop(), False
        self.pid = os.getpid()  # a forked child's copy refuses to run
        self.lock = threading.Lock()
        self.driver: object = None  # the _Call whose caller runs the loop, _HELPER, or None
        self.waiting: set[_Call] = set()  # calls handed to the loop, their callers blocked
        self.helper: threading.Thread | None = None  # started on first need
        self.helper_go = threading.Semaphore(0)  # released for each stint of the helper
        self.finished = threading.Event()  # the loop is closed

    def run(self, awaitable: Awaitable[T], *, internal: bool = False) -> T:
        if self.pid != os.getpid():  # checked first: the locks may be copies of held ones
            _refuse(awaitable, FORK_MESSAGE)
        running = _running_loop()
        if running is self.loop:
            _refuse(awaitable, REENTRANT_MESSAGE)
        call = _Call(awaitable)
        with self.lock:
            if self.closed and not internal:
                _refuse(awaitable, CLOSED_MESSAGE)
            idle = self.driver is None
            if idle and running is None:
                self.driver = call  # the baton: this thread runs the loop
            else:
                call.wakeup = threading.Lock()
                call.wakeup.acquire()
                self.waiting.add(call)
                self.driver = _HELPER if idle else self.driver
        if call.wakeup is None:
            self._start(call)
        else:
            self.loop.call_soon_threadsafe(self._start, call)
            if idle:  # nobody runs the loop: hand it to the helper thread
                self._release()
        try:
            self._block(call)
        except BaseException:  # Ctrl-C: cancel, let it unwind (a second one: stop), raise
            self.loop.call_soon_threadsafe(self._cancel, call)
            self._block(call)
            raise
        finally:
            if self.driver is call:  # only this thread moves the baton on from its call
                self._release()
        error, call.error = call.error, None  # no cycle through the traceback
        if isinstance(error, asyncio.CancelledError) and self.closed:
            raise CwproError(CLOSED_DURING_CALL) from None
        if error is not None:
            raise error
        return cast(T, call.result)

    def _start(self, call: _Call) -> None:
        call.task = self.loop.create_task(self._execute(call))

    async def _execute(self, call: _Call) -> None:
        """Run ``call``, record its outcome, wake its caller; stop the loop if it may stop."""
        try:
            call.result = await call.awaitable
        except BaseException as exc:  # kept for the caller, who raises it in its own thread
            call.error = exc
        call.done = True
        with self.lock:
            self.waiting.discard(call)
            stop = self.driver is call or (self.driver is _HELPER and not self.waiting)
        if call.wakeup is not None:
            call.wakeup.release()
        if stop:  # the driver's own call is done, or the helper's last: stop after this step
            self.loop.stop()

    def _cancel(self, call: _Call) -> None:
        # queued after the task's first step: a task cancelled before it never runs _execute
        self.loop.call_soon(call.task.cancel)

    def _block(self, call: _Call) -> None:
        """Until ``call`` is done: wait to be woken, or (its driver) run the loop meanwhile."""
        if call.wakeup is not None:
            call.wakeup.acquire()
        while not call.done:
            self.loop.run_forever()

    def _release(self) -> None:
        """Let go of the loop: to the helper thread while calls wait, else idle (or finish)."""
        with self.lock:
            self.driver = _HELPER if self.waiting else None
            helper, finish = self.driver is _HELPER, self.driver is None and self.closed
        if helper and self.helper is None:
            self.helper = threading.Thread(target=self._help, name="cwpro-sync-loop", daemon=True)
            self.helper.start()
        if helper:
            self.helper_go.release()
        elif finish:  # after close(): no call can come any more
            self._finish()

    def _help(self) -> None:
        while self.helper_go.acquire() and not self.loop.is_closed():
            try:
                self.loop.run_forever()  # stopped by the last waiting call done
            finally:
                self._release()

    def close(self) -> None:
        if self.pid != os.getpid():  # the parent owns the loop and the sockets: touch nothing
            return
        if _running_loop() is self.loop:  # collected on the private loop, which cannot wait
            with contextlib.suppress(RuntimeError):  # (the interpreter is shutting down)
                threading.Thread(target=self.close, name="cwpro-sync-close", daemon=True).start()
            return
        with self.lock:
            if self.closed:
                return
            self.closed = True  # no new call; the thread letting go of the loop closes it
        self.run(self._shutdown(), internal=True)
        self.finished.wait(FINISH_TIMEOUT)  # for the thread still running the loop to let go

    async def _shutdown(self) -> None:
        try:
            await self.aclose()
        finally:
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()
            await asyncio.sleep(0)  # closed transports run their connection_lost callbacks

    def _finish(self) -> None:
        """Close the loop and stop the helper (once: the thread letting go after close())."""
        self.loop.close()
        if self.helper is not None:
            self.helper_go.release()  # it sees the loop closed and ends
            if self.helper is not threading.current_thread():
                self.helper.join(FINISH_TIMEOUT)
        self.finished.set()


class Bridge:
    """Runs the awaitables of one ``AsyncClient`` (whose ``close`` it is given) on its loop."""

    def __init__(self, close: Callable[[], Awaitable[None]]) -> None:
        self._engine = engine = _Engine(close)
        self._finalizer = weakref.finalize(self, engine.close)

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the private loop; return its result or raise its exception."""
        return self._engine.run(awaitable)

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """A blocking generator over an async iterator, one element per :meth:`run`.

        Closing it early (``break``, ``.close()``, garbage collection) closes the async iterator,
        which cancels its in-flight requests (the loop does, if closed or if this runs on it).
        """
        try:
            while True:
                yield self._engine.run(iterator.__anext__())
        except StopAsyncIteration:
            return
        except GeneratorExit:  # thrown in at the yield: closed early
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None and not self._engine.closed:
                with contextlib.suppress(CwproError):
                    self._engine.run(aclose())
            raise

    def close(self) -> None:
        """Close the async client and the private loop (idempotent)."""
        self._finalizer()
