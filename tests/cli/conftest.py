"""Fixtures of the command-line tests: an emulator thread and the CWPRO_* environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cwpro.emulator import EmulatorThread

from ._helpers import CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def emu() -> Iterator[EmulatorThread]:
    """A small emulator on a private loop thread, with fixed credentials."""
    with EmulatorThread(
        seed=11,
        workorders=1200,
        sites=60,
        work_types=9,
        portal_links=30,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    ) as emulator:
        yield emulator


@pytest.fixture
def cli_env(emu: EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> EmulatorThread:
    """Point in-process ``cli.main()`` calls at ``emu`` through the CWPRO_* variables."""
    for name in ("CWPRO_TOKEN", "CWPRO_API_KEY", "CWPRO_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CWPRO_BASE_URL", emu.base_url)
    monkeypatch.setenv("CWPRO_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("CWPRO_CLIENT_SECRET", CLIENT_SECRET)
    return emu
