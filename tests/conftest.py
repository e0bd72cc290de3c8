"""Shared fixtures: an emulator on loopback and a client pointed at it.

The test run also fails on leaked resources: "Unclosed client session"/"Unclosed connector"
reported through the event loop's exception handler (besides the ResourceWarnings turned into
errors in pyproject.toml).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import cwpro


class _LeakDetector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(
            marker in message
            for marker in (
                "Unclosed client session",
                "Unclosed connector",
                "Task was destroyed but it is pending",
                "exception was never retrieved",
            )
        ):
            self.leaks.append(message)


@pytest.fixture(autouse=True)
def _fail_on_leaks() -> Iterator[None]:
    detector = _LeakDetector()
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(detector)
    try:
        yield
    finally:
        asyncio_logger.removeHandler(detector)
    if detector.leaks:
        pytest.fail("resource leak reported by the event loop: " + "; ".join(detector.leaks[:3]))


@pytest.fixture(autouse=True)
def _restore_cwpro_logging() -> Iterator[None]:
    """``cli.main()`` configures the ``cwpro`` logger in-process; undo it after each test."""
    logger = logging.getLogger("cwpro")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture
async def emulator() -> AsyncIterator[Any]:
    from cwpro.emulator import Emulator

    async with Emulator(seed=7, workorders=250, sites=30, work_types=12, portal_links=60) as emu:
        yield emu


def client_options(emu: Any, **kwargs: Any) -> dict[str, Any]:
    """Client arguments for the emulator (an ``Emulator`` or ``EmulatorThread``), with fast
    retries (tests never wait on real backoff); ``kwargs`` add or override."""
    return {
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "base_url": emu.base_url,
        "retry_backoff_base": 0.01,
        "retry_backoff_max": 0.05,
        "timeout": 10,
        **kwargs,
    }


def make_client(emu: Any, **kwargs: Any) -> cwpro.AsyncClient:
    """A client for the emulator with fast retries (see :func:`client_options`)."""
    return cwpro.AsyncClient(**client_options(emu, **kwargs))


@pytest.fixture
async def client(emulator: Any) -> AsyncIterator[cwpro.AsyncClient]:
    async with make_client(emulator) as c:
        yield c
