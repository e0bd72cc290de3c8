"""``cwpro get KIND ID``: fetch one object and print it as JSON (``model.to_dict()``)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import cwpro

from ._common import (
    EXIT_OK,
    add_client_arguments,
    add_command,
    make_client,
    print_json,
)
from ._common import run_command as _run_command

Fetch = Callable[[cwpro.AsyncClient, argparse.Namespace], Awaitable[cwpro.Model]]

#: KIND -> (help, fetch).
KINDS: Final[dict[str, tuple[str, Fetch]]] = {
    "workorder": (
        "a work order (--expand adds its work types)",
        lambda client, args: client.workorders.get(args.id, expand=args.expand),
    ),
    "site": ("a site", lambda client, args: client.sites.get(args.id)),
    "work-type": ("a work type", lambda client, args: client.work_types.get(args.id)),
    "portal-link": (
        "a workorder portal link",
        lambda client, args: client.portal_links.get(args.id),
    ),
    "webhook": (
        "a recorded webhook notification",
        lambda client, args: client.webhooks.get(args.id),
    ),
}


def add_parser(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``cwpro get``."""
    parser = subparsers.add_parser(
        "get",
        parents=parents,
        help="fetch one object by id and print it as JSON",
        description="Fetch one object by id and print it as JSON on stdout.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, (summary, fetch) in KINDS.items():
        command = add_command(kinds, kind, parents, summary, f"Print {summary} as JSON.")
        command.add_argument("id", help="the object's id")
        if kind == "workorder":
            command.add_argument(
                "--expand", action="store_true", help="include the referenced work types"
            )
        add_client_arguments(command)
        command.set_defaults(handler=_handler(fetch))


def _handler(fetch: Fetch) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def command() -> int:
            async with make_client(args) as client:
                model = await fetch(client, args)
            print_json(model.to_dict(), indent=2)
            return EXIT_OK

        return _run_command(command)

    return run
