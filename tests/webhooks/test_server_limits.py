"""The receiver's server against slow and numerous clients (counts, not timings)."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from cwpro.webhooks import ServerLimits, WebhookReceiver

from ._helpers import body, notification
from ._receiving import Recorder, serving

CHILD = Path(__file__).with_name("_inbox_child.py")


async def open_raw(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return await asyncio.open_connection(parts.hostname, parts.port)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True when the server closed the connection (EOF or reset) rather than answering."""
    try:
        data = await asyncio.wait_for(reader.read(1024), 30)
    except (ConnectionError, OSError):
        return True
    return data == b""


async def test_headers_that_never_finish_are_cut_off() -> None:
    async with serving(Recorder(), header_timeout=0.2) as (_, url, session):
        reader, writer = await open_raw(url)
        writer.write(b"POST /webhooks HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        await writer.drain()
        assert await closed_by_server(reader)
        writer.close()
        async with session.post(url, data=body(1)) as response:  # others still served
            assert response.status == 200


async def test_a_body_that_never_finishes_gets_408() -> None:
    recorder = Recorder()
    async with serving(recorder, body_timeout=0.2) as (receiver, url, _):
        reader, writer = await open_raw(url)
        writer.write(
            b"POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 500\r\n\r\n" + body(1)[:20]
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert receiver.stats.rejected["timeout"] == 1
    assert recorder.calls == 0


async def test_connections_over_the_cap_are_closed_at_once() -> None:
    async with serving(Recorder(), max_connections=3, header_timeout=60) as (_, url, session):
        idle = [await open_raw(url) for _ in range(3)]
        await asyncio.sleep(0)  # let the server see them
        reader, writer = await open_raw(url)
        assert await closed_by_server(reader)
        writer.close()
        for _, idle_writer in idle:
            idle_writer.close()
        for _ in range(50):  # the server notices the closes; a delivery gets through again
            with contextlib.suppress(aiohttp.ClientError):
                async with session.post(url, data=body(2)) as response:
                    if response.status == 200:
                        break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("no delivery got through after the idle connections closed")


def test_default_cap_stays_below_the_descriptor_limit() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    limits = ServerLimits.for_process(
        header_timeout=1, body_timeout=1, max_connections=None, keepalive_timeout=1
    )
    assert limits.max_connections + limits.backlog <= max(1, soft - 64)
    with pytest.raises(ValueError, match="max_connections"):
        WebhookReceiver(Recorder(), max_connections=0)


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


async def test_300_slow_clients_under_256_descriptors_do_not_starve_deliveries(
    tmp_path: Path,
) -> None:
    log = tmp_path / "handled.log"
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(tmp_path / "e.db"), str(log), "1", "0.5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=_low_fd_limit,
    )  # fmt: skip
    assert child.stdout is not None and child.stderr is not None
    url = (await asyncio.wait_for(child.stdout.readline(), 120)).decode().strip()
    slow: list[asyncio.StreamWriter] = []
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                _, writer = await open_raw(url)
                writer.write(b"POST /webhooks HTTP/1.1\r\nHost: x\r\n")
                slow.append(writer)
        delivered = 0
        attempts = 0
        async with aiohttp.ClientSession() as session:
            for number in range(20):
                while attempts < 2_000:
                    attempts += 1
                    try:
                        async with session.post(url, data=body(number)) as response:
                            await response.read()
                            if response.status == 200:
                                delivered += 1
                                break
                    except (aiohttp.ClientError, OSError):
                        pass
                    await asyncio.sleep(0.05)
        assert delivered == 20
    finally:
        for writer in slow:
            writer.close()
        child.terminate()
        _, stderr = await asyncio.wait_for(child.communicate(), 120)
    text = stderr.decode()
    assert "accept" not in text.lower(), text[-2000:]
    assert "Too many open files" not in text
    handled = set(log.read_text().split()) if log.exists() else set()
    assert handled <= {notification(n)["id"] for n in range(20)}


async def test_a_busy_keep_alive_connection_outlives_the_header_timeout() -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with (
        serving(Recorder(), header_timeout=0.2) as (_, url, _session),
        aiohttp.ClientSession(connector=connector) as session,
    ):
        statuses = []
        for number in range(8):  # one connection, well past 0.2 s in all
            async with session.post(url, data=body(number)) as response:
                statuses.append(response.status)
            await asyncio.sleep(0.06)
    assert statuses == [200] * 8
