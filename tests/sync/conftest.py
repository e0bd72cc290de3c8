"""Fixtures for the blocking client: an emulator on its own thread and a client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import cwpro_sync
from cwpro.emulator import EmulatorThread
from tests.conftest import client_options


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    """One emulator per test module (tests only add data, never rely on totals changing)."""
    with EmulatorThread(
        seed=11, workorders=120, sites=15, work_types=8, portal_links=40
    ) as emulator:
        yield emulator


def make_sync_client(emu: EmulatorThread, **kwargs: Any) -> cwpro_sync.Client:
    """A blocking client for the emulator with fast retries (see ``client_options``)."""
    return cwpro_sync.Client(**client_options(emu, **kwargs))


@pytest.fixture
def client(emu: EmulatorThread) -> Iterator[cwpro_sync.Client]:
    """A blocking client, closed after the test."""
    with make_sync_client(emu) as c:
        yield c


@pytest.fixture
def latency(emu: EmulatorThread) -> Iterator[Any]:
    """Set the emulator's per-request latency for one test: ``latency(150)``."""

    def set_latency(milliseconds: float) -> None:
        emu.latency_ms = milliseconds

    yield set_latency
    emu.latency_ms = 0
