"""Page-number listing: 1,000 portal links, 25 per page, 20 ms of latency.

Alternating, round by round:

* ``sequential``: the page loop a user writes by hand,
  ``page = await client.portal_links.list(per_page=25, page=n)`` for n = 1, 2, ... until the
  last page (the first answer says how many there are);
* ``concurrent``: ``async for link in client.portal_links.list(per_page=25)`` -- page 1, then
  the other 39 pages ``concurrency=16`` at a time (the default), yielded in page order;
* ``concurrent-dict``: the same with ``as_dict=True`` (the envelope's dicts, no models).

Both must see the 1,000 links. For reference, the same concurrent walk with raw aiohttp
(orjson, no models) is timed too: what the emulator and the machine allow at all; and the
emulator's CPU per page is reported (it is a ceiling: 40 pages x its CPU per page).

Run alone: ``python -m benchmarks.bench_portal_links [--quick]``.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

import cwpro

from ._harness import (
    Figure,
    Sample,
    ServerCPU,
    Stats,
    Target,
    alternate,
    emulator,
    loads,
    ratio_stats,
    run_async,
    run_script,
    script_command,
    sdk_and_raw,
    walls,
)

COMMAND = script_command("bench_portal_links")
LATENCY_MS = 20
LINKS = 1_000
PER_PAGE = 25


async def sequential(client: cwpro.AsyncClient) -> int:
    """Fetch page after page; returns the links seen."""
    number, pages, links = 1, 1, 0
    while number <= pages:
        page = await client.portal_links.list(per_page=PER_PAGE, page=number)
        links += len(page.items)
        pages = page.pages
        number += 1
    return links


async def concurrent(client: cwpro.AsyncClient) -> int:
    """Stream every link with the SDK's concurrent page paginator."""
    links = 0
    async for _ in client.portal_links.list(per_page=PER_PAGE):
        links += 1
    return links


async def concurrent_dicts(client: cwpro.AsyncClient) -> int:
    """The same walk in dict mode (``as_dict=True``: the envelope's dicts, no models)."""
    links = 0
    async for _ in client.portal_links.list(per_page=PER_PAGE, as_dict=True):
        links += 1
    return links


async def raw_concurrent(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], concurrency: int = 16
) -> int:
    """The reference: page 1, then the other pages ``concurrency`` at a time, raw aiohttp."""
    limiter = asyncio.Semaphore(concurrency)

    async def fetch(number: int) -> dict[str, Any]:
        async with (
            limiter,
            session.get(
                url, params={"per_page": str(PER_PAGE), "page": str(number)}, headers=headers
            ) as resp,
        ):
            body: dict[str, Any] = loads(await resp.read())
            return body

    first = await fetch(1)
    rest = await asyncio.gather(*(fetch(n) for n in range(2, first["paging"]["pages"] + 1)))
    return sum(len(page["data"]) for page in (first, *rest))


async def _measure(rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    with emulator(portal_links=LINKS, workorders=500, latency_ms=LATENCY_MS) as emu:
        server = ServerCPU(emu.pid)
        async with sdk_and_raw(emu) as (client, session, headers):
            url = f"{emu.base_url}/workorder-portal-link"

            def checked(
                name: str, walk: Callable[[], Awaitable[int]]
            ) -> Callable[[], Awaitable[Sample]]:
                async def block() -> None:
                    seen = await walk()
                    if seen != LINKS:
                        raise AssertionError(f"expected {LINKS} links, got {seen}")

                return server.measured(name, block)

            await concurrent(client)  # warm-up: connections, token
            samples = await alternate(
                {
                    "sequential": checked("sequential", lambda: sequential(client)),
                    "concurrent": checked("concurrent", lambda: concurrent(client)),
                    "concurrent-dict": checked("concurrent-dict", lambda: concurrent_dicts(client)),
                    "raw-concurrent": checked(
                        "raw-concurrent", lambda: raw_concurrent(session, url, headers)
                    ),
                },
                rounds,
            )
            return {name: walls(values) for name, values in samples.items()}, server.during


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    result, server_cpu = run_async(_measure(3 if quick else 7))
    seq, conc = Stats.of(result["sequential"]), Stats.of(result["concurrent"])
    raw = Stats.of(result["raw-concurrent"])
    dicts = Stats.of(result["concurrent-dict"])
    pages = LINKS // PER_PAGE
    server_ms = {k: statistics.median(v) / pages * 1e3 for k, v in server_cpu.items()}
    return [
        Figure.graded(
            "portal_links_ratio",
            f"{LINKS:,} portal links, per_page={PER_PAGE}: sequential page loop / "
            "portal_links.list() concurrent (wall)",
            ratio_stats(result["sequential"], result["concurrent"]),
            Target.at_least(8.0),
            COMMAND,
            notes=[
                f"{LATENCY_MS} ms latency, {LINKS // PER_PAGE} pages: sequential "
                f"{seq.median * 1e3:.0f} ms, concurrent {conc.median * 1e3:.0f} ms "
                "(page 1, then 16 pages in flight: at least 4 round trips)",
                "emulator CPU per page: "
                + ", ".join(f"{k} {v:.1f} ms" for k, v in server_ms.items()),
            ],
        ),
        Figure.info(
            "portal_links_ratio_dict_mode",
            "same, portal_links.list(as_dict=True): plain dicts, no models (wall)",
            ratio_stats(result["sequential"], result["concurrent-dict"]),
            "x",
            COMMAND,
            notes=[f"concurrent dict mode {dicts.median * 1e3:.0f} ms"],
        ),
        Figure.info(
            "portal_links_ratio_raw_reference",
            "reference: sequential page loop / raw aiohttp concurrent walk (orjson, no models)",
            ratio_stats(result["sequential"], result["raw-concurrent"]),
            "x",
            COMMAND,
            notes=[f"raw concurrent {raw.median * 1e3:.0f} ms"],
        ),
    ]


def main() -> None:
    """Command line entry point."""
    run_script("page-number listing: portal links (20 ms latency)", run)


if __name__ == "__main__":
    main()
