"""``cwpro webhooks listen --inbox``, ``cwpro webhooks inbox ...`` and ``emulator --webhook-target``."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from pathlib import Path

import aiohttp
import pytest

from cwpro.cli import main
from cwpro.webhooks import SQLiteInbox, event_from_mapping

from ._helpers import body, notification


async def _prepare(path: Path) -> list[str]:
    async with SQLiteInbox(path) as inbox:
        events = [event_from_mapping(notification(n)) for n in range(3)]
        await inbox.store(events)
        claimed = await inbox.claim(2, received_before=4e9)
        await inbox.complete(claimed[0].id)
        await inbox.fail(claimed[1].id, "KeyError: 'x'", retry_at=None)
    return [event.id for event in events]


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_inbox_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.db"
    ids = asyncio.run(_prepare(path))
    assert main(["webhooks", "inbox", "list", "--inbox", str(path)]) == 0
    (pending,) = _lines(capsys.readouterr().out)
    assert pending["id"] == ids[2] and pending["state"] == "pending"
    assert main(["webhooks", "inbox", "dead", "--inbox", str(path)]) == 0
    (dead,) = _lines(capsys.readouterr().out)
    assert (dead["id"], dead["last_error"], dead["attempts"]) == (ids[1], "KeyError: 'x'", 1)
    assert main(["webhooks", "inbox", "replay", ids[1], "--inbox", str(path)]) == 0
    assert _lines(capsys.readouterr().out) == [{"replayed": ids[1]}]
    assert main(["webhooks", "inbox", "replay", "f" * 24, "--inbox", str(path)]) == 1
    assert "no dead or done event" in capsys.readouterr().err
    assert main(["webhooks", "inbox", "purge", "--older-than", "0", "--inbox", str(path)]) == 0
    assert _lines(capsys.readouterr().out) == [{"purged": 1}]
    assert main(["webhooks", "inbox", "list", "--limit", "0", "--inbox", str(path)]) == 2


def test_refused_sender_is_logged_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    from ._receiving import Recorder, serving

    async def scenario() -> int:
        async with (
            serving(Recorder(), allowed_ips=["192.0.2.1"]) as (_, url, session),
            session.post(url, data=body(1)) as response,
        ):
            return response.status

    with caplog.at_level(logging.INFO, logger="cwpro.webhooks"):
        assert asyncio.run(scenario()) == 403
    (record,) = [r for r in caplog.records if "refused" in r.getMessage()]
    assert record.levelno == logging.WARNING


async def _read_json_line(stream: asyncio.StreamReader) -> dict[str, object]:
    line = await asyncio.wait_for(stream.readline(), 120)
    assert line, "the process ended before printing"
    return json.loads(line)  # type: ignore[no-any-return]


async def test_emulator_delivers_to_a_durable_listener(tmp_path: Path) -> None:
    """``cwpro emulator --webhook-target URL`` -> ``cwpro webhooks listen --inbox`` (loopback)."""
    listen = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cwpro", "webhooks", "listen", "--port", "0",
        "--inbox", str(tmp_path / "events.db"), "--allow-ip", "127.0.0.1",
        "--basic-auth", "cwp:s3cret",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    emulator = None
    try:
        assert listen.stderr is not None and listen.stdout is not None
        banner = (await asyncio.wait_for(listen.stderr.readline(), 120)).decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/webhooks", banner)
        assert match, banner
        target = f"http://cwp:s3cret@127.0.0.1:{match.group(1)}/webhooks"
        emulator = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cwpro", "emulator", "--webhook-target", target,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert emulator.stdout is not None
        announced = await _read_json_line(emulator.stdout)
        base = str(announced["base_url"]).rstrip("/")
        async with aiohttp.ClientSession() as session:
            credentials = {
                "client_id": announced["client_id"],
                "client_secret": announced["client_secret"],
            }
            async with session.post(f"{base}/auth/token", json=credentials) as response:
                token = (await response.json())["data"]["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(
                f"{base}/workorders", json={"name": "from the emulator"}, headers=headers
            ) as response:
                created = (await response.json())["data"]
        printed = await _read_json_line(listen.stdout)
        assert printed["event"] == "WORKORDER.CREATE"
        assert printed["data"]["_id"] == created["_id"]  # type: ignore[index]
    finally:
        for process in (emulator, listen):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()
    async with SQLiteInbox(tmp_path / "events.db") as inbox:
        assert await inbox.pending() == []
        assert await inbox.contains(str(printed["id"]))
