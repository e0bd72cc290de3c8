"""``cwpro webhooks listen`` (print each event as a JSON line) and ``cwpro webhooks inbox``.

``listen --inbox events.db`` stores every event durably before answering 200 and prints it once
its turn comes; ``inbox list|dead|replay ID|purge`` inspect and fix that file without a
receiver. ``--inbox`` also takes a ``postgresql://`` URL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ._common import EXIT_FAILURE, EXIT_OK, UsageError, print_json, run_command

if TYPE_CHECKING:
    from cwpro.webhooks import Inbox, InboxEntry


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
    listen.add_argument(
        "--inbox",
        metavar="PATH|URL",
        help="durable mode: store events in this SQLite file (or postgresql:// URL) before "
        "answering 200; handled events are printed once, across restarts",
    )
    listen.add_argument(
        "--max-attempts", type=int, default=5, help="with --inbox: tries before an event is dead"
    )
    listen.set_defaults(handler=run)

    inbox = commands.add_parser(
        "inbox",
        parents=parents,
        help="inspect or fix a webhook inbox",
        description="Work on an inbox written by 'listen --inbox' (no receiver needed). Events "
        "are printed as JSON lines: id, event, state, attempts, received_at, last_error, "
        "notification.",
    )
    actions = inbox.add_subparsers(dest="inbox_command", metavar="ACTION", required=True)
    for name, text in (
        ("list", "print the events not handled yet"),
        ("dead", "print the events whose handler kept failing"),
    ):
        action = actions.add_parser(name, parents=parents, help=text, description=text)
        action.add_argument("--limit", type=int, default=None, help="print at most N events")
    replay = actions.add_parser(
        "replay", parents=parents, help="run a dead or done event again", description=None
    )
    replay.add_argument("event_id", metavar="ID")
    purge = actions.add_parser(
        "purge",
        parents=parents,
        help="delete handled events",
        description="Delete done events (and dead ones with --dead) older than --older-than.",
    )
    purge.add_argument(
        "--older-than",
        type=float,
        default=7.0,
        metavar="DAYS",
        help="age in days (default 7; keep it above CWP's redelivery span)",
    )
    purge.add_argument("--dead", action="store_true", help="delete old dead events too")
    for action in actions.choices.values():
        action.add_argument(
            "--inbox",
            required=True,
            metavar="PATH|URL",
            help="the SQLite file or postgresql:// URL",
        )
        action.set_defaults(handler=run_inbox)


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
            handle,
            basic_auth=basic_auth,
            allowed_ips=allowed,
            path=args.path,
            inbox=None if args.inbox is None else open_inbox(args.inbox),
            max_attempts=args.max_attempts,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    async with receiver.serve(host=args.host, port=args.port) as url:
        senders = "any sender" if allowed is None else ", ".join(allowed)
        sys.stderr.write(f"listening on {url} (senders: {senders}); Ctrl-C to stop\n")
        sys.stderr.flush()
        await asyncio.Event().wait()
    return EXIT_OK


def open_inbox(target: str) -> Inbox:
    """The inbox named on the command line: a ``postgresql://`` URL or a SQLite path."""
    from cwpro.webhooks import PostgresInbox, SQLiteInbox

    if target.startswith(("postgresql://", "postgres://")):
        return PostgresInbox(target)
    return SQLiteInbox(target)


def entry_json(entry: InboxEntry) -> dict[str, Any]:
    """One inbox entry as printed by ``cwpro webhooks inbox``."""
    return {
        "id": entry.id,
        "event": entry.event.event,
        "state": entry.state,
        "attempts": entry.attempts,
        "received_at": entry.received_at.isoformat(),
        "last_error": entry.last_error,
        "notification": dict(entry.event.raw),
    }


def run_inbox(args: argparse.Namespace) -> int:
    """The ``cwpro webhooks inbox`` commands."""
    if getattr(args, "limit", None) is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if getattr(args, "older_than", 0.0) < 0:
        raise UsageError("--older-than must be >= 0 days")
    return run_command(lambda: inbox_command(args))


async def inbox_command(args: argparse.Namespace) -> int:
    """Open the inbox, do the action, print the outcome."""
    inbox = open_inbox(args.inbox)
    await inbox.open()
    try:
        if args.inbox_command in ("list", "dead"):
            read = inbox.pending if args.inbox_command == "list" else inbox.dead
            for entry in await read(args.limit):
                print_json(entry_json(entry))
            return EXIT_OK
        if args.inbox_command == "replay":
            if await inbox.replay(args.event_id):
                print_json({"replayed": args.event_id})
                return EXIT_OK
            sys.stderr.write(
                f"cwpro: error: no dead or done event {args.event_id!r} in the inbox\n"
            )
            return EXIT_FAILURE
        deleted = await inbox.purge(timedelta(days=args.older_than), dead=args.dead)
        print_json({"purged": deleted})
        return EXIT_OK
    finally:
        await inbox.close()
