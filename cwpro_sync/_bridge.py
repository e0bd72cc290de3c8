"""The one hand-written module of ``cwpro_sync``: running the async client from blocking code.

Everything else in ``cwpro_sync`` is generated and calls a :class:`Bridge`, which owns the one
private event loop its ``AsyncClient`` runs on (an aiohttp session belongs to its loop).

* A caller whose thread runs no loop, finding the private loop idle, runs it itself until its
  call is done: no thread switch. Callers arriving meanwhile hand their calls to the running
  loop and wait; when the running caller is done it hands the loop to one of them, so threads
  sharing a client run their calls concurrently. A caller inside a running loop (``asyncio.run``,
  Jupyter) cannot run a second one: a helper thread, started on first need, runs it for them.
  A call from inside the private loop itself would deadlock: it raises :class:`cwpro.CwproError`.
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
from typing import Any, NoReturn, TypeVar

from cwpro import CwproError

__all__ = ["Bridge", "RawResponseProxy"]

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
FINISH_TIMEOUT = 10.0  # seconds closing waits for the helper thread to stop
_OPEN, _CLOSING, _CLOSED = "open", "closing", "closed"
_HELPER = "helper thread"  # the loop's driver while the helper thread runs it


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
    """One awaitable run through the bridge, its outcome, and how its caller learns of it."""

    baton = done = False  # baton: the caller's thread runs the loop (set before it does)
    result: Any = None
    error: BaseException | None = None
    task: asyncio.Task[None] | None = None

    def __init__(self, awaitable: Awaitable[Any], can_drive: bool) -> None:
        self.awaitable, self.can_drive = awaitable, can_drive  # can_drive: no loop in its thread
        self.wakeup = threading.Lock()  # held while waiting; released when done or with the baton


class _Engine:
    """The private loop and who runs it (the :class:`Bridge` is the handle everything holds)."""

    def __init__(self, aclose: Callable[[], Awaitable[None]]) -> None:
        self.aclose, self.loop, self.state = aclose, asyncio.new_event_loop(), _OPEN
        self.pid = os.getpid()  # a forked child's copy refuses to run
        self.lock = threading.Lock()
        self.driver: object = None  # the _Call whose thread runs the loop, _HELPER, or None
        self.waiting: dict[_Call, None] = {}  # calls handed to the loop, their callers blocked
        self.helper: threading.Thread | None = None
        self.helper_go = threading.Semaphore(0)
        self.finished = False

    def run(self, awaitable: Awaitable[T], *, internal: bool = False) -> T:
        running = _running_loop()
        if self.pid != os.getpid():  # checked first: the locks may be copies of held ones
            _refuse(awaitable, FORK_MESSAGE)
        if running is self.loop:
            _refuse(awaitable, REENTRANT_MESSAGE)
        call = _Call(awaitable, running is None)
        with self.lock:
            if self.state is not _OPEN and not (internal and self.state is _CLOSING):
                _refuse(awaitable, CLOSED_MESSAGE)
            call.baton = self.driver is None and call.can_drive
            wake_helper = self.driver is None and not call.baton
            if call.baton:
                self.driver = call
            else:
                call.wakeup.acquire()
                self.waiting[call] = None
                self.driver = _HELPER if wake_helper else self.driver
        if call.baton:
            call.task = self.loop.create_task(self._execute(call))
            self._drive(call)
        else:
            self.loop.call_soon_threadsafe(self._start, call)
            if wake_helper:
                self._wake_helper()
            self._wait(call)
        error, call.error = call.error, None
        if isinstance(error, asyncio.CancelledError) and self.state is not _OPEN:
            raise CwproError(CLOSED_DURING_CALL) from None
        if error is not None:
            raise error
        result: T = call.result
        return result

    def _start(self, call: _Call) -> None:
        call.task = self.loop.create_task(self._execute(call))

    async def _execute(self, call: _Call) -> None:
        try:
            call.result = await call.awaitable
        except BaseException as exc:  # kept for the caller, who raises it in its own thread
            call.error = exc
        finally:
            call.done = True
            if call.baton:  # its own thread runs the loop: stop after this step
                self.loop.stop()
            else:
                with self.lock:
                    waited = self.waiting.pop(call, 0) is None
                    drained = self.driver is _HELPER and not self.waiting
                if waited:
                    call.wakeup.release()
                if drained:
                    self.loop.stop()

    def _cancel(self, call: _Call) -> None:
        if call.task is not None:
            call.task.cancel()

    def _drive(self, call: _Call) -> None:
        """Run the loop in this thread until ``call`` is done, then hand the loop on."""
        try:
            while not call.done:
                self.loop.run_forever()
        except BaseException:  # Ctrl-C while running the loop: cancel, let it unwind, raise
            self._cancel(call)
            while not call.done:
                self.loop.run_forever()
            raise
        finally:
            self._release()

    def _wait(self, call: _Call) -> None:
        interrupted: BaseException | None = None
        try:
            call.wakeup.acquire()
        except BaseException as exc:  # Ctrl-C while another thread runs the loop
            interrupted = exc
            self.loop.call_soon_threadsafe(self._cancel, call)
            try:
                call.wakeup.acquire()  # the cancelled call is done, or the loop is ours to run
            except BaseException:  # a second Ctrl-C: stop waiting now
                with self.lock:
                    self.waiting.pop(call, None)
                if call.baton:
                    self._release()
                raise
        if call.baton:
            self._drive(call)
        if interrupted is not None:
            raise interrupted

    def _release(self) -> None:
        """Hand the loop to a waiting caller able to run it, else to the helper, else nobody."""
        with self.lock:
            successor = next((c for c in self.waiting if c.can_drive), None)
            if successor is not None:
                del self.waiting[successor]
                successor.baton = True
            self.driver = successor or (_HELPER if self.waiting else None)
            helper, finish = self.driver is _HELPER, self.driver is None and self.state is _CLOSED
        if successor is not None:
            successor.wakeup.release()
        elif helper:
            self._wake_helper()
        elif finish:
            self._finish()

    def _wake_helper(self) -> None:
        if self.helper is None:
            self.helper = threading.Thread(target=self._helper, name="cwpro-sync-loop", daemon=True)
            self.helper.start()
        self.helper_go.release()

    def _helper(self) -> None:
        while self.helper_go.acquire() and not self.finished:
            try:
                self.loop.run_forever()
            finally:
                self._release()

    def close(self) -> None:
        if self.pid != os.getpid():
            self.state = _CLOSED  # the parent owns the loop and the sockets: touch nothing
            return
        if _running_loop() is self.loop:  # collected on the private loop, which cannot wait
            with contextlib.suppress(RuntimeError):  # (the interpreter is shutting down)
                threading.Thread(target=self.close, name="cwpro-sync-close", daemon=True).start()
            return
        with self.lock:
            if self.state is not _OPEN:
                return
            self.state = _CLOSING
        try:
            self.run(self._shutdown(), internal=True)
        finally:
            with self.lock:
                self.state, idle = _CLOSED, self.driver is None
            if idle:  # else the thread running the loop closes it as it lets go (_release)
                self._finish()

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
        with self.lock:
            finished, self.finished = self.finished, True
        if not finished and self.helper is not None:
            self.helper_go.release()
            if self.helper is not threading.current_thread():
                self.helper.join(FINISH_TIMEOUT)
        if not finished:
            self.loop.close()


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
        while True:
            try:
                element = self._engine.run(iterator.__anext__())
            except StopAsyncIteration:
                return
            try:
                yield element
            except GeneratorExit:
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None and self._engine.state is _OPEN:
                    with contextlib.suppress(CwproError):
                        self._engine.run(aclose())
                raise

    def close(self) -> None:
        """Close the async client and the private loop (idempotent)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` started."""
        return self._engine.state is not _OPEN


class RawResponseProxy:
    """``resource.with_raw_response`` of the blocking client: the same calls, blocking.

    Each returns the :class:`cwpro.APIResponse` (``.parse()`` gives the usual result).
    """

    def __init__(self, bridge: Bridge, proxy: Any) -> None:
        self._bridge, self._proxy = bridge, proxy

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method, bridge = getattr(self._proxy, name), self._bridge

        def call(*args: Any, **kwargs: Any) -> Any:
            return bridge.run(method(*args, **kwargs))

        call.__name__, call.__doc__ = name, method.__doc__
        return call

    def __repr__(self) -> str:
        return repr(self._proxy).replace("cwpro.AsyncClient", "cwpro_sync.Client", 1)
