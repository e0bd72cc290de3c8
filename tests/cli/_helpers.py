"""Running ``cwpro`` as a subprocess and checking exports against the API."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import cwpro

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
CLIENT_ID = "cli-tests"
CLIENT_SECRET = "cli-tests-secret"


def cli_env(base_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``cwpro`` subprocess talking to the emulator at ``base_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CWPRO_")}
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_ROOT if not existing else PACKAGE_ROOT + os.pathsep + existing
    env.update(
        CWPRO_BASE_URL=base_url, CWPRO_CLIENT_ID=CLIENT_ID, CWPRO_CLIENT_SECRET=CLIENT_SECRET
    )
    env.update(extra)
    return env


def cwpro_command(*args: str) -> list[str]:
    """``python -m cwpro ARGS``."""
    return [sys.executable, "-m", "cwpro", *args]


def run_cli(
    *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``cwpro ARGS`` to completion, capturing text output."""
    return subprocess.run(
        cwpro_command(*args), env=dict(env), capture_output=True, text=True, timeout=timeout
    )


def start_cli(*args: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start ``cwpro ARGS`` in the background (stdout and stderr piped)."""
    return subprocess.Popen(
        cwpro_command(*args),
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_line(stream: IO[str], timeout: float = 20) -> str:
    """The next line of a subprocess pipe, or ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    buffer = ""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while not buffer.endswith("\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError(f"no line within {timeout} s (got {buffer!r})")
            chunk = os.read(stream.fileno(), 1).decode()
            if not chunk:
                raise EOFError(f"stream closed (got {buffer!r})")
            buffer += chunk
    return buffer


def wait_until(condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    """Poll ``condition`` every 20 ms until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)


def checkpoint_items(path: Path) -> int:
    """Items recorded by an export checkpoint (0 while there is none or it is being replaced)."""
    try:
        return int(json.loads(path.read_text())["items_written"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def summary_line(stdout: str) -> dict[str, Any]:
    """The last line of stdout, as JSON."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "no output on stdout"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def jsonl_ids(path: Path) -> list[str]:
    """The ``_id`` of every line of a JSON lines export (every line must be whole JSON)."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["_id"] for line in handle]


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV export."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def api_ids(base_url: str, resource: str = "workorders", **query: Any) -> list[str]:
    """Every id of a list, read through the SDK's plain cursor walk."""

    async def collect() -> list[str]:
        async with cwpro.AsyncClient(CLIENT_ID, CLIENT_SECRET, base_url=base_url) as client:
            lister = getattr(client, resource)
            return [item.id async for item in lister.list(limit=1000, **query)]

    return asyncio.run(collect())


def api_workorder_ids_by_status(base_url: str) -> list[str]:
    """Every work order id, read concurrently with one partition per status.

    Independent of the CLI's created_date partitioning; the caller checks the count against
    ``totalResults`` (a status outside the enum would be missed, and caught by that check).
    """

    async def collect() -> list[str]:
        async with cwpro.AsyncClient(CLIENT_ID, CLIENT_SECRET, base_url=base_url) as client:
            partitions = [{"in_": {"status": [status.value]}} for status in cwpro.WorkOrderStatus]
            export = client.workorders.export(partitions, limit=1000)
            return [item.id async for item in export]

    return asyncio.run(collect())


def api_total(base_url: str, resource: str = "workorders", **query: Any) -> int:
    """``totalResults`` of a list."""

    async def total() -> int:
        async with cwpro.AsyncClient(CLIENT_ID, CLIENT_SECRET, base_url=base_url) as client:
            page = await getattr(client, resource).list(limit=1, **query)
            assert page.total_results is not None
            return int(page.total_results)

    return asyncio.run(total())
