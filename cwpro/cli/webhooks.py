"""``cwpro webhooks listen``: receive CWP webhooks and print each event as a JSON line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from ._common import EXIT_OK, UsageError, print_json, run_command


def add_parser(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``cwpro webhooks listen``."""
    parser = subparsers.add_parser(
        "webhooks",
        parents=parents,
        help="receive webhook notifications",
        description="Webhook tools.",
    )
    commands = parser.add_subparsers(dest="webhooks_command", metavar="COMMAND", required=True)
    listen = commands.add_parser(
        "listen",
        parents=parents,
        help="serve a webhook endpoint and print each event as a JSON line",
        description="Serve a webhook endpoint (POST PATH) until Ctrl-C. Each accepted event is "
        "printed on stdout as one JSON line (the notification as received: id, event, "
        "created_date, data); duplicates are dropped. The URL goes to stderr. Senders are "
        "limited to CWP's addresses unless --allow-ip/--allow-any-ip say otherwise.",
    )
    listen.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    listen.add_argument(
        "--port", type=int, default=8080, help="port (default 8080; 0 = any free port)"
    )
    listen.add_argument("--path", default="/webhooks", help="the endpoint's path")
    listen.add_argument(
        "--basic-auth", metavar="USER:PASS", help="require these HTTP Basic credentials"
    )
    listen.add_argument(
        "--allow-ip",
        dest="allow_ips",
        action="append",
        default=None,
        metavar="IP",
        help="accept this sender address or network (repeatable; default: CWP's addresses)",
    )
    listen.add_argument("--allow-any-ip", action="store_true", help="accept every sender address")
    listen.set_defaults(handler=run)


def _basic_auth(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise UsageError("--basic-auth must be USER:PASS")
    return user, password


def run(args: argparse.Namespace) -> int:
    """The ``cwpro webhooks listen`` command."""
    basic_auth = _basic_auth(args.basic_auth)
    if args.allow_any_ip and args.allow_ips:
        raise UsageError("--allow-ip and --allow-any-ip exclude each other")
    return run_command(lambda: listen(args, basic_auth), exit_quietly_on_signal=True)


async def listen(args: argparse.Namespace, basic_auth: tuple[str, str] | None) -> int:
    """Serve until cancelled, printing events."""
    from cwpro.webhooks import CWP_SENDER_IPS, WebhookEvent, WebhookReceiver

    async def handle(event: WebhookEvent) -> None:
        print_json(dict(event.raw))

    allowed: Sequence[str] | None = (
        None if args.allow_any_ip else args.allow_ips or list(CWP_SENDER_IPS)
    )
    try:
        receiver = WebhookReceiver(
            handle, basic_auth=basic_auth, allowed_ips=allowed, path=args.path
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    async with receiver.serve(host=args.host, port=args.port) as url:
        senders = "any sender" if allowed is None else ", ".join(allowed)
        sys.stderr.write(f"listening on {url} (senders: {senders}); Ctrl-C to stop\n")
        sys.stderr.flush()
        await asyncio.Event().wait()
    return EXIT_OK
