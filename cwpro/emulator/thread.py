"""An :class:`~cwpro.emulator.server.Emulator` on its own event loop in a daemon thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cwpro.emulator.ratelimit import RateLimit
from cwpro.emulator.server import Emulator

T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0


class EmulatorThread:
    """A blocking context manager running an emulator for tests of blocking clients.

    ``with EmulatorThread(seed=1) as emu:`` takes the keyword arguments of :class:`Emulator`
    and exposes its attributes (``base_url``, ``client_id``, ``state``, ``faults``, ...).
    :meth:`call` and :meth:`run` execute a function / coroutine function on the emulator's loop
    thread-safely; ``latency_ms``, ``token_lifetime`` and :meth:`expire_tokens` do so already.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._emulator: Emulator | None = None

    @property
    def emulator(self) -> Emulator:
        """The running :class:`Emulator` (use its objects from the loop thread or via call)."""
        if self._emulator is None:
            raise RuntimeError("the emulator thread is not started")
        return self._emulator

    def start(self) -> EmulatorThread:
        """Start the thread and wait until the emulator serves (re-raises startup errors)."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                emulator = Emulator(**self._options)
                loop.run_until_complete(emulator.start())
            except BaseException as exc:
                failure.append(exc)
                loop.close()
                ready.set()
                return
            self._loop, self._emulator = loop, emulator
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(emulator.close())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=serve, name="cwpro-emulator", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            raise failure[0]
        self._thread = thread
        return self

    def stop(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Close the emulator, stop the loop and join the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self.emulator.close(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = self._loop = None

    def _on_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def call(
        self, fn: Callable[..., T], *args: Any, timeout: float = DEFAULT_TIMEOUT, **kwargs: Any
    ) -> T:
        """Run ``fn(*args, **kwargs)`` on the emulator's loop thread and return its result."""
        if self._on_loop_thread():
            return fn(*args, **kwargs)

        async def invoke() -> T:
            return fn(*args, **kwargs)

        return self.run(invoke, timeout=timeout)

    def run(
        self,
        coro_fn: Callable[..., Awaitable[T]],
        *args: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> T:
        """Await ``coro_fn(*args, **kwargs)`` on the emulator's loop and return its result."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the emulator thread is not started")
        if self._on_loop_thread():
            raise RuntimeError("run() would deadlock on the emulator's own loop thread")

        async def invoke() -> T:
            return await coro_fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(invoke(), loop).result(timeout)

    # -- conveniences that marshal to the loop thread -----------------------------------------
    @property
    def latency_ms(self) -> float:
        """Milliseconds added to every API request."""
        return self.emulator.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        self.call(setattr, self.emulator, "latency_ms", value)

    @property
    def token_lifetime(self) -> float:
        """Lifetime in seconds of newly issued tokens."""
        return self.emulator.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: float) -> None:
        self.call(setattr, self.emulator, "token_lifetime", value)

    def expire_tokens(self) -> None:
        """Invalidate every issued token."""
        self.call(self.emulator.expire_tokens)

    def set_rate_limit(
        self, limit: str | RateLimit | None, *, retry_after: float | None = None
    ) -> RateLimit | None:
        """Limit each client to ``limit`` (see :meth:`Emulator.set_rate_limit`)."""
        return self.call(self.emulator.set_rate_limit, limit, retry_after=retry_after)

    def url_for(self, path: str) -> str:
        """The absolute URL of ``path`` on the emulator."""
        return self.emulator.url_for(path)

    def drain_webhooks(self, timeout: float | None = None) -> None:
        """Block until every webhook delivery finished (``TimeoutError`` after ``timeout``)."""
        self.run(self.emulator.webhooks.drain, timeout, timeout=None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.emulator, name)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
