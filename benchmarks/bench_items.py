"""Client CPU per item for bulk jobs: 100-item pages decoded and built into models vs json.loads.

The pages are real emulator answers (``GET /workorders?limit=100``, ~1 KB per work order, and
``GET /workorder-portal-link?per_page=100``), fetched once over loopback; the measurement itself
is in-process CPU (``time.process_time()``), so the network and the server do not blur it.
Variants, in rotating order every round: ``json.loads`` (what a raw loader pays), ``models``
(``cwpro._serde.loads`` with the ``json`` decoder + one model per item through the converter's
hook, i.e. the SDK's decode-and-build with the default install), and, with the ``speed`` extra,
``orjson.loads`` and ``models-orjson`` (``cwpro._serde.loads`` as installed + models).
``dicts`` is what ``list(as_dict=True)`` costs per page (the strict decoder, the envelope check
and the page reader, no models).
The graded figures, for work orders: ``models / json.loads`` (target <= 1.5x) and
``dicts / json.loads`` (target <= 1.1x).

Run alone: ``python -m benchmarks.bench_items [--quick]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp

from cwpro import _serde
from cwpro._http.envelope import envelope_problem
from cwpro.models import PortalLink, WorkOrder
from cwpro.pagination.pages import dict_items, read_cursor_page, read_numbered_page

from ._harness import (
    Figure,
    Sample,
    Stats,
    Target,
    alternate_sync,
    cpus,
    emulator,
    measure_sync,
    orjson,
    ratio_stats,
    raw_token,
    run_async,
    run_script,
    script_command,
)

COMMAND = script_command("bench_items")
TARGET = Target.at_most(1.5)
#: Issue #17: the dict mode for bulk loaders costs at most 10% over a bare json.loads.
TARGET_DICTS = Target.at_most(1.1)
PAGES = 10


async def _fetch_pages() -> tuple[list[bytes], list[bytes]]:
    """Ten 100-item work-order pages and ten portal-link pages, as the emulator sends them."""
    with emulator(workorders=PAGES * 100) as emu:
        async with aiohttp.ClientSession() as session:
            headers = await raw_token(session, emu)
            work_orders: list[bytes] = []
            cursor: str | None = None
            for _ in range(PAGES):
                params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
                url = f"{emu.base_url}/workorders"
                async with session.get(url, params=params, headers=headers) as resp:
                    body = await resp.read()
                work_orders.append(body)
                cursor = json.loads(body)["pagination"]["nextCursor"]
            links: list[bytes] = []
            for page in range(1, PAGES + 1):
                params = {"per_page": "100", "page": str(page)}
                url = f"{emu.base_url}/workorder-portal-link"
                async with session.get(url, params=params, headers=headers) as resp:
                    links.append(await resp.read())
    return work_orders, links


def _variants(
    pages: list[bytes], model: type[Any], repeat: int
) -> tuple[dict[str, Callable[[], Sample]], int]:
    items = sum(len(json.loads(page)["data"]) for page in pages) * repeat
    hook = _serde.converter.get_structure_hook(model)

    def read(payload: Any, structure: Any) -> None:
        if model is WorkOrder:
            read_cursor_page(payload, structure, cursor=None, where="bench")
        else:
            read_numbered_page(payload, structure, page=1, where="bench")

    def decode_only(loads: Callable[[bytes], Any]) -> Callable[[], Sample]:
        def block() -> None:
            for _ in range(repeat):
                for page in pages:
                    loads(page)

        return lambda: measure_sync(block, items)

    def with_models(loads: Callable[[bytes], Any]) -> Callable[[], Sample]:
        def block() -> None:
            for _ in range(repeat):
                for page in pages:
                    for item in loads(page)["data"]:
                        hook(item, model)

        return lambda: measure_sync(block, items)

    def dict_mode(loads: Callable[[bytes], Any]) -> Callable[[], Sample]:
        # What ``list(as_dict=True)`` does per page: decode, envelope check, page reader.
        def block() -> None:
            for _ in range(repeat):
                for page in pages:
                    payload = loads(page)
                    if envelope_problem(payload, expect_data=True) is not None:
                        raise AssertionError("the emulator's page failed the envelope check")
                    read(payload, dict_items)

        return lambda: measure_sync(block, items)

    variants = {
        "json.loads": decode_only(json.loads),
        "models": with_models(_serde._json_loads),
        "dicts": dict_mode(_serde._json_loads),
    }
    if orjson is not None:
        variants["orjson.loads"] = decode_only(orjson.loads)
        variants["models-orjson"] = with_models(_serde.loads)
    return variants, items


def run(quick: bool = False) -> list[Figure]:
    """Measure and return the figures."""
    rounds, repeat = (3, 2) if quick else (15, 5)
    work_orders, links = run_async(_fetch_pages())
    figures: list[Figure] = []
    for key, label, pages, model in (
        ("items_wo", "work orders", work_orders, WorkOrder),
        ("items_links", "portal links", links, PortalLink),
    ):
        variants, items = _variants(pages, model, repeat)
        for run_once in variants.values():
            run_once()  # warm-up: builders generated, caches filled
        samples = alternate_sync(variants, rounds)
        us = {name: Stats.of([c * 1e6 for c in cpus(s)]) for name, s in samples.items()}
        context = f"per item, medians of {rounds} rounds x {items} items: " + ", ".join(
            f"{name} {stats.median:.2f} us" for name, stats in us.items()
        )
        ratio = ratio_stats(cpus(samples["models"]), cpus(samples["json.loads"]))
        if model is WorkOrder:
            figures.append(
                Figure.graded(
                    f"{key}_models_ratio",
                    f"bulk {label}: CPU per item, decode + models / json.loads (no orjson)",
                    ratio,
                    TARGET,
                    COMMAND,
                    notes=[context],
                )
            )
        else:
            figures.append(
                Figure.info(
                    f"{key}_models_ratio",
                    f"bulk {label}: CPU per item, decode + models / json.loads (no orjson)",
                    ratio,
                    "x",
                    COMMAND,
                    notes=[context],
                )
            )
        dicts = ratio_stats(cpus(samples["dicts"]), cpus(samples["json.loads"]))
        label_dicts = (
            f"bulk {label}, dict mode (as_dict=True): CPU per item, decode + envelope + page "
            "/ json.loads (no orjson)"
        )
        if model is WorkOrder:
            figures.append(
                Figure.graded(f"{key}_dict_mode_ratio", label_dicts, dicts, TARGET_DICTS, COMMAND)
            )
        else:
            figures.append(Figure.info(f"{key}_dict_mode_ratio", label_dicts, dicts, "x", COMMAND))
        if "models-orjson" in samples:
            figures.append(
                Figure.info(
                    f"{key}_models_orjson_ratio",
                    f"bulk {label}: CPU per item, orjson decode + models / json.loads",
                    ratio_stats(cpus(samples["models-orjson"]), cpus(samples["json.loads"])),
                    "x",
                    COMMAND,
                )
            )
            figures.append(
                Figure.info(
                    f"{key}_models_vs_orjson_ratio",
                    f"bulk {label}: CPU per item, orjson decode + models / orjson.loads",
                    ratio_stats(cpus(samples["models-orjson"]), cpus(samples["orjson.loads"])),
                    "x",
                    COMMAND,
                )
            )
    return figures


def main() -> None:
    """Command line entry point."""
    run_script("bulk items: decode + models vs json.loads, per item", run)


if __name__ == "__main__":
    main()
