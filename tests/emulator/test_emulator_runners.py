"""EmulatorThread, EmulatorProcess, ``python -m cwpro.emulator`` and the million-item dataset."""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cwpro.emulator import Emulator, EmulatorProcess, EmulatorThread
from cwpro.emulator.__main__ import build_parser, emulator_options

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """A blocking JSON request with urllib."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def login(base_url: str, client_id: str, client_secret: str) -> str:
    status, body = http(
        "POST", f"{base_url}/auth/token", {"client_id": client_id, "client_secret": client_secret}
    )
    assert status == 200
    token: str = body["data"]["access_token"]
    return token


def port_is_closed(base_url: str) -> bool:
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, int(port))) != 0


def test_emulator_thread_serves_blocking_clients() -> None:
    with EmulatorThread(
        seed=4, workorders=30, portal_links=3, client_id="me", client_secret="pw"
    ) as emu:
        assert (emu.client_id, emu.client_secret) == ("me", "pw")
        token = login(emu.base_url, "me", "pw")
        status, body = http("GET", emu.url_for("/workorders?limit=5"), token=token)
        assert status == 200
        assert [item["_id"] for item in body["data"]] == list(emu.state.workorder_ids())[:5]
        emu.call(emu.faults.add, "status", status=503, times=1)
        assert http("GET", emu.url_for("/sites"), token=token)[0] == 503
        assert emu.run(_count_routes, emu.emulator) >= 3
        emu.latency_ms = 50
        started = time.perf_counter()
        http("GET", emu.url_for("/sites"), token=token)
        assert time.perf_counter() - started >= 0.05
        emu.expire_tokens()
        assert http("GET", emu.url_for("/sites"), token=token)[0] == 401
        base_url = emu.base_url
    assert port_is_closed(base_url)


async def _count_routes(emulator: Emulator) -> int:
    return emulator.stats.total


def test_emulator_thread_reports_startup_errors() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError), EmulatorThread(port=port, workorders=1, portal_links=0):
            pass


def test_emulator_process_lifecycle_and_control_api() -> None:
    with EmulatorProcess(
        seed=9,
        workorders=40,
        portal_links=2,
        latency_ms=0,
        faults=["status:502:times=1:route=GET /worktypes"],
    ) as emu:
        assert emu.pid != os.getpid()
        assert emu.running
        token = login(emu.base_url, emu.client_id, emu.client_secret)
        assert http("GET", emu.url_for("/worktypes"), token=token)[0] == 502
        assert http("GET", emu.url_for("/worktypes"), token=token)[0] == 200
        emu.add_fault("status", status=429, retry_after=1, times=1)
        assert http("GET", emu.url_for("/sites"), token=token)[0] == 429
        emu.expire_tokens()
        assert http("GET", emu.url_for("/sites"), token=token)[0] == 401
        stats = emu.stats()
        assert stats["faults_injected"] == 2
        assert stats["requests"]["GET /worktypes"] == 2
        assert emu.request_count("GET /worktypes") == 2
        assert emu.request_count("GET *") == 4
        emu.reset_stats()
        assert emu.request_count("GET *") == 0
        emu.advance_clock(5)
        emu.set_latency(1)
        emu.clear_faults()
        assert emu.drain_webhooks(timeout=1) is True
        base_url = emu.base_url
    assert not emu.running
    assert port_is_closed(base_url)


def test_forgotten_emulator_process_is_terminated_on_gc() -> None:
    emu = EmulatorProcess(workorders=5, portal_links=0).start()
    process = emu._process
    assert process is not None
    del emu
    gc.collect()
    assert process.poll() is not None


def test_emulator_process_rejects_unknown_options() -> None:
    with pytest.raises(TypeError):
        EmulatorProcess(colour="blue")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_module_entry_point_announces_and_exits_cleanly(signum: int) -> None:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cwpro.emulator",
            "--port",
            "0",
            "--workorders",
            "7",
            "--client-id",
            "cid",
            "--client-secret",
            "sec",
            "--fault",
            "status:503:times=1",
        ],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        announcement = json.loads(process.stdout.readline())
        assert set(announcement) == {"base_url", "client_id", "client_secret", "pid"}
        assert (announcement["client_id"], announcement["client_secret"]) == ("cid", "sec")
        assert announcement["pid"] == process.pid
        token = login(announcement["base_url"], "cid", "sec")
        status, body = http("GET", announcement["base_url"] + "/workorders", token=token)
        assert status == 503
        status, body = http("GET", announcement["base_url"] + "/workorders", token=token)
        assert body["pagination"]["totalResults"] == 7
        process.send_signal(signum)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_parser_maps_to_emulator_options() -> None:
    args = build_parser().parse_args(
        [
            "--seed",
            "3",
            "--work-types",
            "4",
            "--portal-links",
            "0",
            "--latency-ms",
            "2.5",
            "--fault",
            "status:500",
            "--fault",
            "slow_body:delay=0.1",
        ]
    )
    options = emulator_options(args)
    assert options["seed"] == 3
    assert options["work_types"] == 4
    assert options["latency_ms"] == 2.5
    assert options["fault_specs"] == ["status:500", "slow_body:delay=0.1"]
    assert options["keepalive_timeout"] == 5.0
    assert (
        emulator_options(build_parser().parse_args(["--keepalive-timeout", "0.5"]))[
            "keepalive_timeout"
        ]
        == 0.5
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--fault", "nonsense"])


async def test_a_million_work_orders_start_fast_and_page_in_constant_time() -> None:
    started = time.perf_counter()
    async with (
        Emulator(workorders=1_000_000, portal_links=50) as emu,
        aiohttp.ClientSession() as session,
    ):
        assert time.perf_counter() - started < 3.0
        async with session.post(
            emu.url_for("/auth/token"),
            json={"client_id": emu.client_id, "client_secret": emu.client_secret},
        ) as r:
            headers = {"Authorization": f"Bearer {(await r.json())['data']['access_token']}"}
        timings = []
        cursor = None
        for _ in range(3):
            params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
            began = time.perf_counter()
            async with session.get(
                emu.url_for("/workorders"), params=params, headers=headers
            ) as response:
                body = await response.json()
            timings.append(time.perf_counter() - began)
            cursor = body["pagination"]["nextCursor"]
        assert body["pagination"]["totalResults"] == 1_000_000
        assert max(timings) < 1.0, timings
        async with session.get(
            emu.url_for("/workorders"),
            params={"sortBy": "_id:desc", "limit": "10"},
            headers=headers,
        ) as response:
            newest = (await response.json())["data"]
        last_id = emu.state.workorders.id_at(999_999)
        assert newest[0]["_id"] == last_id
        async with session.get(emu.url_for(f"/workorders/{last_id}"), headers=headers) as response:
            assert (await response.json())["data"]["_id"] == last_id


def test_stopping_cancels_a_request_whose_client_is_gone(caplog: pytest.LogCaptureFixture) -> None:
    # a request held by a slow fault whose client was killed is no connection aiohttp's
    # graceful shutdown waits for: it was destroyed, pending, with the thread's loop (and the
    # next test's leak check reported it)
    emu = EmulatorThread(seed=3, workorders=5, client_id="a", client_secret="b").start()
    emu.emulator.faults.add("slow_headers", delay=600.0, route="GET /sites")
    script = (
        "import asyncio, aiohttp\n"
        "async def main():\n"
        "    async with aiohttp.ClientSession() as session:\n"
        f"        await session.get({emu.base_url + '/sites'!r})\n"
        "asyncio.run(main())\n"
    )
    client = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while emu.emulator.stats["GET /sites"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emu.emulator.stats["GET /sites"] == 1
    finally:
        client.kill()
        client.wait()
    emu.stop()
    gc.collect()
    assert "Task was destroyed but it is pending" not in caplog.text
