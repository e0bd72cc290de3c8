"""``cwpro demo``: the SDK's main jobs against an embedded emulator, in a few seconds.

No credentials and no network: an emulator of the API serves generated data on a free loopback
port. The demo exports every work order over date partitions (through a few injected 503s, so
the retries show), checks that each one arrived exactly once, creates a work order and receives
its webhook on a local webhook receiver, lists portal links, and ends with a one-line JSON
summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from typing import Any, Final

from rich.console import Console

import cwpro

from ._common import (
    EXIT_OK,
    UsageError,
    add_command,
    closing,
    print_json,
    retries_text,
    retry_counts,
    run_command,
)
from ._partitions import plan_partitions
from ._progress import item_progress

DEFAULT_FAULTS: Final = ("status:503:times=3:route=GET /workorders",)
WEBHOOK_WAIT_SECONDS: Final = 10.0


def add_parser(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``cwpro demo``."""
    summary = "run the SDK's main jobs against an embedded emulator (no credentials)"
    parser = add_command(subparsers, "demo", parents, summary, __doc__, epilog=None)
    parser.add_argument("--workorders", type=int, default=5000, help="work orders to generate")
    parser.add_argument("--partitions", type=int, default=8, help="export partitions")
    parser.add_argument("--seed", type=int, default=1, help="dataset seed")
    parser.add_argument(
        "--fault",
        dest="faults",
        action="append",
        default=None,
        metavar="SPEC",
        help="emulator fault rule (repeatable; default: three 503s on GET /workorders); "
        "'none' for no faults",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``cwpro demo`` command."""
    if args.workorders < 1 or args.partitions < 1:
        raise UsageError("--workorders and --partitions must be >= 1")
    faults = list(DEFAULT_FAULTS) if args.faults is None else args.faults
    faults = [spec for spec in faults if spec != "none"]
    return run_command(lambda: demo(args, faults))


async def demo(args: argparse.Namespace, faults: Sequence[str]) -> int:
    """Start the emulator, run the demo steps, print the summary."""
    from cwpro.emulator import Emulator

    console = Console(highlight=False, soft_wrap=True)
    started = time.monotonic()
    async with Emulator(
        seed=args.seed,
        workorders=args.workorders,
        sites=200,
        work_types=12,
        portal_links=40,
        fault_specs=faults,
    ) as emulator:
        console.print(
            f"[bold]cwpro demo[/] - emulator on {emulator.base_url} with "
            f"{args.workorders:,} work orders, 200 sites, 40 portal links"
        )
        async with cwpro.AsyncClient(
            emulator.client_id,
            emulator.client_secret,
            base_url=emulator.base_url,
            retry_backoff_base=0.05,
            retry_backoff_max=0.5,
        ) as client:
            exported = await _export(client, args, console)
            if exported["unique"] != emulator.state.workorder_count():
                raise RuntimeError("the export lost or repeated work orders")
            webhook = await _webhook_round_trip(client, emulator, console)
            links = await _portal_links(client, console)
            summary = {
                "event": "demo.done",
                "base_url": emulator.base_url,
                **exported,
                **retry_counts(client),
                "webhook": webhook,
                "portal_links_shown": links,
                "total_seconds": round(time.monotonic() - started, 3),
            }
    console.print(
        f"[bold]summary[/]: {summary['items']:,} items in {summary['seconds']:.2f} s "
        f"({summary['items_per_second']:,.0f} items/s), {retries_text(summary)}, "
        f"webhook after {webhook['latency_ms']:.0f} ms, total {summary['total_seconds']:.2f} s"
    )
    print_json(summary)
    return EXIT_OK


async def _export(
    client: cwpro.AsyncClient, args: argparse.Namespace, console: Console
) -> dict[str, Any]:
    """Export every work order over date partitions; count items and distinct ids."""
    plan = await plan_partitions(client.workorders.list, {"limit": 500}, parts=args.partitions)
    export = client.workorders.export(plan.partitions, concurrency=len(plan.partitions), limit=500)
    ids: set[str] = set()
    items = 0
    started = time.monotonic()
    with item_progress("export work orders", enabled=not args.no_progress) as progress:
        async with closing(export.pages()) as pages:
            async for _, page in pages:
                items += len(page.items)
                ids.update(item.id for item in page.items)
                progress.update(items, plan.expected_total)
    seconds = time.monotonic() - started
    rate = items / seconds if seconds > 0 else 0.0
    console.print(
        f"1. export: {items:,} work orders over {len(plan.partitions)} created_date partitions "
        f"in {seconds:.2f} s ({rate:,.0f} items/s), {retries_text(retry_counts(client))}, "
        f"{len(ids):,} distinct ids (no gap, no duplicate)"
    )
    return {
        "items": items,
        "unique": len(ids),
        "partitions": len(plan.partitions),
        "seconds": round(seconds, 3),
        "items_per_second": round(rate, 1),
    }


async def _webhook_round_trip(
    client: cwpro.AsyncClient, emulator: Any, console: Console
) -> dict[str, Any]:
    """Create a work order and wait for its ``WORKORDER.CREATE`` webhook on a local receiver."""
    from cwpro.webhooks import WebhookEvent, WebhookReceiver, WorkOrderCreated

    arrived: asyncio.Queue[WebhookEvent] = asyncio.Queue()

    async def handle(event: WebhookEvent) -> None:
        await arrived.put(event)

    receiver = WebhookReceiver(handle, allowed_ips=["127.0.0.1"])
    async with receiver.serve(host="127.0.0.1", port=0) as url:
        target = emulator.webhooks.add_target(url)
        sent = time.monotonic()
        work_order = await client.workorders.create(
            name="Replace rooftop HVAC filters", priority="high", status="open"
        )
        try:
            while True:
                event = await asyncio.wait_for(arrived.get(), WEBHOOK_WAIT_SECONDS)
                if isinstance(event, WorkOrderCreated) and event.work_order.id == work_order.id:
                    break
        finally:
            emulator.webhooks.remove_target(target)
        latency_ms = (time.monotonic() - sent) * 1000
    console.print(
        f"2. webhook: created work order {work_order.id} ({work_order.name!r}); "
        f"{event.event} {event.id} arrived at {url} after {latency_ms:.0f} ms"
    )
    return {
        "workorder_id": work_order.id,
        "event": event.event,
        "event_id": event.id,
        "latency_ms": round(latency_ms, 1),
    }


async def _portal_links(client: cwpro.AsyncClient, console: Console) -> int:
    """Show the first few portal links."""
    first_page = await client.portal_links.list(per_page=3)
    console.print(f"3. portal links: {first_page.total} in all, the first {len(first_page.items)}:")
    for link in first_page.items:
        link_type = str(link.link_type.value if link.link_type else "-")
        console.print(f"   {link.id}  {link_type:<7}  active={link.is_active}  {link.full_url}")
    return len(first_page.items)
