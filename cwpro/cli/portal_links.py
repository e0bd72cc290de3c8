"""``cwpro portal-links create|list``: workorder portal links as JSON."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ._common import (
    EXIT_OK,
    UsageError,
    add_client_arguments,
    add_command,
    closing,
    make_client,
    parse_datetime_arg,
    print_json,
    run_command,
)

LINK_TYPES = ("public", "private", "secure")


def add_parser(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``cwpro portal-links``."""
    parser = subparsers.add_parser(
        "portal-links",
        parents=parents,
        help="create and list workorder portal links",
        description="Workorder portal links.",
    )
    commands = parser.add_subparsers(dest="portal_links_command", metavar="COMMAND", required=True)

    create = add_command(
        commands,
        "create",
        parents,
        "create a portal link for a work order and print it as JSON",
        "Create a portal link for a work order; prints the link (with its link_token and "
        "full_url) as JSON.",
    )
    create.add_argument("--workorder", required=True, metavar="ID", help="the work order's id")
    create.add_argument(
        "--link-type", choices=LINK_TYPES, default="private", help="default: private"
    )
    create.add_argument("--expiry-date", metavar="ISO", help="when the link stops working")
    create.add_argument("--inactive", action="store_true", help="create it deactivated")
    create.add_argument(
        "--company-namespace", action="append", default=None, metavar="NAME", help="repeatable"
    )
    add_client_arguments(create)
    create.set_defaults(handler=run_create)

    listing = add_command(
        commands,
        "list",
        parents,
        "print portal links, one JSON object per line",
        "Print portal links as JSON lines (one link per line), in page order.",
    )
    listing.add_argument("--workorder", metavar="ID", help="only this work order's links")
    listing.add_argument("--link-type", choices=LINK_TYPES, help="only links of this type")
    state = listing.add_mutually_exclusive_group()
    state.add_argument(
        "--active", dest="is_active", action="store_true", default=None, help="only active links"
    )
    state.add_argument("--inactive", dest="is_active", action="store_false", help="only inactive")
    listing.add_argument("--sort", help="field to sort by (-field for descending)")
    listing.add_argument("--per-page", type=int, default=100, help="page size, 1..100")
    listing.add_argument("--max", type=int, default=None, metavar="N", help="stop after N links")
    add_client_arguments(listing)
    listing.set_defaults(handler=run_list)


def run_create(args: argparse.Namespace) -> int:
    """``cwpro portal-links create``."""
    expiry = None if args.expiry_date is None else parse_datetime_arg(args.expiry_date)

    async def command() -> int:
        async with make_client(args) as client:
            try:
                link = await client.portal_links.create(
                    args.workorder,
                    link_type=args.link_type,
                    expiry_date=expiry,
                    is_active=not args.inactive,
                    company_namespace=args.company_namespace,
                )
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        print_json(link.to_dict(), indent=2)
        return EXIT_OK

    return run_command(command)


def run_list(args: argparse.Namespace) -> int:
    """``cwpro portal-links list``."""
    if args.max is not None and args.max < 0:
        raise UsageError("--max must be >= 0")

    async def command() -> int:
        async with make_client(args) as client:
            try:
                links = client.portal_links.list(
                    per_page=args.per_page,
                    workorder=args.workorder,
                    link_type=args.link_type,
                    is_active=args.is_active,
                    sort=args.sort,
                )
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            printed = 0
            if args.max == 0:
                return EXIT_OK
            async with closing(aiter(links)) as stream:
                async for link in stream:
                    print_json(link.to_dict())
                    printed += 1
                    if args.max is not None and printed >= args.max:
                        break
        return EXIT_OK

    return run_command(command)
