"""Per-request cost of ``client.workorders.get`` against a raw aiohttp GET + JSON decode.

Both sides GET the same ``/workorders/{id}`` URLs (about 1 KB of JSON each) from the emulator in
another process, with the same bearer token, one request at a time, taking turns call by call
(the finest alternation: both meet the same machine load; see ``interleave_calls``). The
raw side is ``aiohttp.ClientSession.get`` + ``resp.read()`` + a JSON decode, nothing else; the SDK
adds headers, status and envelope checks, retries machinery and builds a ``WorkOrder`` model.

Four variants run in every round, so the decoder's share is visible too:
``sdk`` (as installed: orjson when ``cwpro[speed]`` is), ``sdk-json`` (the SDK as a default
install runs it, without orjson: its strict ``json`` decoder), ``sdk-read-timeout``
(``Timeout(read=30)``: aiohttp's per-read stall timer on), ``raw-json`` (``json.loads``) and
``raw-orjson``.
The graded figures: ``sdk / raw-json`` (what a user of the raw stack would write) and
``sdk-json / raw-json`` (a default install, same decoder family on both sides: the SDK's own
overhead).

Run alone: ``python -m benchmarks.bench_request_overhead [--quick]``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp

import cwpro
from cwpro import _serde

from ._harness import (
    Figure,
    Sample,
    Stats,
    Target,
    cpus,
    emulator,
    interleave_calls,
    orjson,
    ratio_stats,
    raw_token,
    run_async,
    run_script,
    script_command,
    walls,
)

COMMAND = script_command("bench_request_overhead")
#: Issue #17: a default install (json) within 5% of raw aiohttp + json.loads; with the ``speed``
#: extra (orjson in the SDK) no more CPU than it.
TARGET_DEFAULT = Target.at_most(1.05)
TARGET_SPEED = Target.at_most(1.00)


@contextlib.contextmanager
def without_orjson() -> Iterator[None]:
    """Make the SDK decode as a default install does (its strict ``json`` fallback)."""
    saved = _serde._decode
    _serde._decode = _serde._json_loads
    try:
        yield
    finally:
        _serde._decode = saved


async def _measure(rounds: int, calls: int) -> dict[str, list[Sample]]:
    with emulator(workorders=2_000) as emu:
        read_timeout = cwpro.Timeout(total=60.0, connect=10.0, read=30.0)
        async with (
            cwpro.AsyncClient(emu.client_id, emu.client_secret, base_url=emu.base_url) as client,
            cwpro.AsyncClient(
                emu.client_id, emu.client_secret, base_url=emu.base_url, timeout=read_timeout
            ) as client_read_timeout,
            aiohttp.ClientSession() as session,
        ):
            page = await client.workorders.list(limit=100)
            ids = [wo.id for wo in page.items]
            headers = await raw_token(session, emu)
            urls = [f"{emu.base_url}/workorders/{i}" for i in ids]
            count = len(ids)
            turn = itertools.count()  # every variant walks the same ids

            async def sdk() -> None:
                await client.workorders.get(ids[next(turn) % count])

            async def sdk_read_timeout() -> None:
                await client_read_timeout.workorders.get(ids[next(turn) % count])

            async def sdk_json() -> None:
                with without_orjson():
                    await client.workorders.get(ids[next(turn) % count])

            def raw(loads: Callable[[bytes], Any]) -> Callable[[], Awaitable[None]]:
                async def get() -> None:
                    async with session.get(urls[next(turn) % count], headers=headers) as resp:
                        loads(await resp.read())

                return get

            variants: dict[str, Callable[[], Awaitable[None]]] = {
                "sdk": sdk,
                "sdk-json": sdk_json,
                "sdk-read-timeout": sdk_read_timeout,
                "raw-json": raw(json.loads),
            }
            if orjson is not None:
                variants["raw-orjson"] = raw(orjson.loads)
            await interleave_calls(variants, 1, 50)  # warm-up: connections, caches
            return await interleave_calls(variants, rounds, calls)


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    rounds, calls = (3, 40) if quick else (15, 100)
    samples = run_async(_measure(rounds, calls))
    sdk_default = "sdk (orjson)" if orjson is not None else "sdk (json.loads)"
    us = {name: Stats.of([c * 1e6 for c in cpus(s)]) for name, s in samples.items()}
    wall_us = {name: Stats.of([w * 1e6 for w in walls(s)]) for name, s in samples.items()}
    absolute = ", ".join(
        f"{name} {us[name].median:.0f} us CPU / {wall_us[name].median:.0f} us wall"
        for name in samples
    )
    context = f"per request, medians of {rounds} rounds x {calls} calls each: {absolute}"
    figures = [
        Figure.graded(
            "get_cpu_ratio",
            f"client CPU per request: workorders.get [{sdk_default}] / raw aiohttp + json.loads",
            ratio_stats(cpus(samples["sdk"]), cpus(samples["raw-json"])),
            TARGET_SPEED if orjson is not None else TARGET_DEFAULT,
            COMMAND,
            notes=[context],
        ),
        Figure.graded(
            "get_cpu_ratio_same_decoder",
            "client CPU per request, default install: workorders.get [json] / raw + json.loads",
            ratio_stats(cpus(samples["sdk-json"]), cpus(samples["raw-json"])),
            TARGET_DEFAULT,
            COMMAND,
        ),
        Figure.info(
            "get_wall_ratio",
            "wall time per request: workorders.get / raw aiohttp + json.loads",
            ratio_stats(walls(samples["sdk"]), walls(samples["raw-json"])),
            "x",
            COMMAND,
            notes=["wall time includes the emulator's own time per request (another process)"],
        ),
        Figure.info(
            "get_cpu_read_timeout_on",
            "client CPU per request: workorders.get with Timeout(read=30) / raw + json.loads",
            ratio_stats(cpus(samples["sdk-read-timeout"]), cpus(samples["raw-json"])),
            "x",
            COMMAND,
            notes=[
                "aiohttp re-arms a timer on every socket read when a read timeout is set; the "
                "SDK's default is Timeout(total=60, connect=10, read=None): total bounds a stall"
            ],
        ),
        Figure.info(
            "get_cpu_sdk_us",
            f"client CPU per workorders.get [{sdk_default}]",
            us["sdk"],
            "us",
            COMMAND,
            digits=0,
        ),
        Figure.info(
            "get_cpu_orjson_saving",
            "orjson in the SDK: CPU per get with json.loads / with orjson",
            ratio_stats(cpus(samples["sdk-json"]), cpus(samples["sdk"])),
            "x",
            COMMAND,
        ),
    ]
    if "raw-orjson" in samples:
        figures.append(
            Figure.info(
                "get_cpu_ratio_orjson_both",
                "client CPU per request, both with orjson: workorders.get / raw + orjson.loads",
                ratio_stats(cpus(samples["sdk"]), cpus(samples["raw-orjson"])),
                "x",
                COMMAND,
            )
        )
    return figures


def main() -> None:
    """Command line entry point."""
    run_script("per-request overhead: workorders.get vs raw aiohttp", run)


if __name__ == "__main__":
    main()
