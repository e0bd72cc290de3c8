"""Fixtures of the emulator's own tests."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cwpro.emulator import Emulator
from cwpro.emulator.portal_links import PortalLinkStore, portal_link_routes
from tests.emulator.live import Live
from tests.emulator.portal_helpers import START, WORKORDERS, Env, FakeClock


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """The portal-link routes alone (no auth, no faults) on loopback, over a fresh store."""
    clock = FakeClock(START)
    address: dict[str, str] = {}
    store = PortalLinkStore(
        rng=random.Random(1234),
        clock=clock,
        base_url=lambda: address["base"],
        workorder_exists=WORKORDERS.__contains__,
    )
    app = web.Application()
    app.add_routes(portal_link_routes(store))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        address["base"] = str(client.make_url("")).rstrip("/")
        yield Env(store, client, clock, address["base"])


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    """A full emulator (auth, faults, stats) and a logged-in plain aiohttp client."""
    async with (
        Emulator(seed=5, workorders=40, sites=4, work_types=3, portal_links=30) as emu,
        Live.open(emu) as client,
    ):
        emu.stats.reset()
        yield client
