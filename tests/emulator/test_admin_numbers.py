"""The emulator's admin number fields (``/_emulator/latency``, ``/_emulator/clock``) answer a
bad value with a 400 naming the field, and change nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from cwpro.emulator import Emulator

START = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
async def admin() -> AsyncIterator[tuple[Emulator, aiohttp.ClientSession]]:
    async with (
        Emulator(
            seed=3, workorders=0, sites=0, work_types=0, portal_links=0, start_time=START
        ) as emu,
        aiohttp.ClientSession() as session,
    ):
        yield emu, session


async def _post(
    admin: tuple[Emulator, aiohttp.ClientSession], path: str, body: Any
) -> tuple[int, Any]:
    emu, session = admin
    async with session.post(emu.url_for(path), json=body) as response:
        return response.status, await response.json()


@pytest.mark.parametrize("ms", [-1, True, "5", None])
async def test_latency_refuses_what_is_not_a_number_at_least_zero(
    admin: tuple[Emulator, aiohttp.ClientSession], ms: Any
) -> None:
    emu, _ = admin
    emu.latency_ms = 3.0
    body = {} if ms is None else {"ms": ms}
    assert await _post(admin, "/_emulator/latency", body) == (
        400,
        {"error": "ms must be a number >= 0"},
    )
    assert emu.latency_ms == 3.0


@pytest.mark.parametrize("advance", [-0.5, False, [1]])
async def test_clock_refuses_what_is_not_a_number_at_least_zero(
    admin: tuple[Emulator, aiohttp.ClientSession], advance: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, _ = admin
    moves: list[float] = []
    monkeypatch.setattr(emu.clock, "advance", lambda seconds: moves.append(seconds) or START)
    assert await _post(admin, "/_emulator/clock", {"advance": advance}) == (
        400,
        {"error": "advance must be a number >= 0"},
    )
    assert moves == []


async def test_clock_without_advance_moves_by_zero(
    admin: tuple[Emulator, aiohttp.ClientSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    emu, _ = admin
    moves: list[float] = []
    monkeypatch.setattr(emu.clock, "advance", lambda seconds: moves.append(seconds) or START)
    assert await _post(admin, "/_emulator/clock", {}) == (200, {"now": "2025-03-10T12:00:00.000Z"})
    assert moves == [0.0]
