"""``python -m cwpro.emulator``: serve the CWP API emulator until SIGINT/SIGTERM.

The first line on stdout is JSON ``{"base_url", "client_id", "client_secret", "pid"}`` (flushed);
logs go to stderr. ``--fault`` takes the spec grammar of :mod:`cwpro.emulator.faults`, e.g.
``--fault "status:503:times=3:route=GET /workorders"``; repeat it for several rules.
``--rate-limit 100/s[,burst=20]`` limits each client's requests (429 with ``Retry-After``, see
:mod:`cwpro.emulator.ratelimit`); ``--retry-after N`` makes every such 429 say ``N`` seconds.
``--watch-stdin`` makes the server exit when its stdin closes (used by ``EmulatorProcess`` so the
child never outlives its parent). Exit status 0 on a signal or stdin EOF, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from cwpro.emulator.faults import parse_fault_spec
from cwpro.emulator.ratelimit import parse_rate_limit
from cwpro.emulator.server import KEEPALIVE_TIMEOUT, Emulator
from cwpro.emulator.webhook_delivery import split_target_url


def _checked_by(parse: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse ``type`` keeping the text as given once ``parse`` accepts it."""

    def check(text: str) -> str:
        try:
            parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
        return text

    return check


_fault_spec = _checked_by(parse_fault_spec)
_webhook_target = _checked_by(split_target_url)
_rate_limit_spec = _checked_by(parse_rate_limit)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def add_webhook_targets(emulator: Emulator, urls: Sequence[str]) -> None:
    """Subscribe each ``--webhook-target`` URL (``user:pass@`` becomes Basic auth)."""
    for url in urls:
        bare, basic_auth = split_target_url(url)
        emulator.webhooks.add_target(bare, basic_auth=basic_auth)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the emulator options to ``parser`` (also used by the ``cwpro emulator`` command)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0 = any free port)")
    parser.add_argument("--seed", type=int, default=0, help="dataset and fault seed")
    parser.add_argument("--workorders", type=int, default=200, help="seeded work orders")
    parser.add_argument("--sites", type=int, default=20, help="seeded sites")
    parser.add_argument("--work-types", type=int, default=10, help="seeded work types")
    parser.add_argument("--portal-links", type=int, default=50, help="seeded portal links")
    parser.add_argument(
        "--notifications",
        type=int,
        default=None,
        help="seeded webhook notification history (default 50)",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="latency added to every API request"
    )
    parser.add_argument(
        "--token-lifetime", type=float, default=3600.0, help="bearer token lifetime in seconds"
    )
    parser.add_argument("--client-id", default=None, help="client id (default: random)")
    parser.add_argument("--client-secret", default=None, help="client secret (default: random)")
    parser.add_argument(
        "--max-page-size", type=int, default=1000, help="largest accepted list limit"
    )
    parser.add_argument(
        "--webhook-time-scale",
        type=float,
        default=1.0,
        help="factor applied to webhook retry delays (10..50 minutes)",
    )
    parser.add_argument(
        "--keepalive-timeout",
        type=float,
        default=KEEPALIVE_TIMEOUT,
        help="seconds the server keeps an idle keep-alive connection open "
        f"(default {KEEPALIVE_TIMEOUT:g}, like the published server)",
    )
    parser.add_argument(
        "--fault",
        dest="faults",
        action="append",
        default=[],
        type=_fault_spec,
        metavar="SPEC",
        help="fault rule, e.g. 'status:503:times=3:route=GET /workorders'",
    )
    parser.add_argument(
        "--rate-limit",
        default=None,
        type=_rate_limit_spec,
        metavar="SPEC",
        help="limit each client to e.g. '100/s' or '100/s,burst=20' "
        "(429 with Retry-After beyond it)",
    )
    parser.add_argument(
        "--retry-after",
        type=_seconds,
        default=None,
        metavar="N",
        help="send 'Retry-After: N' with every rate-limit 429 (default: the "
        "whole seconds until a token is free)",
    )
    parser.add_argument(
        "--webhook-target",
        dest="webhook_targets",
        action="append",
        default=[],
        type=_webhook_target,
        metavar="URL",
        help="deliver every webhook event to URL (repeatable; "
        "http://user:pass@host/path sends Basic credentials)",
    )
    parser.add_argument(
        "--watch-stdin", action="store_true", help="exit when stdin reaches end of file"
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="stderr log level",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cwpro.emulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m cwpro.emulator",
        description="Serve an emulator of the CLOUDWORK|PRO API on loopback.",
    )
    return add_arguments(parser)


def argument_error(args: argparse.Namespace) -> str | None:
    """What is wrong with a combination of parsed options, if anything."""
    if args.retry_after is not None and args.rate_limit is None:
        return "--retry-after needs --rate-limit"
    return None


def emulator_options(args: argparse.Namespace) -> dict[str, Any]:
    """:class:`Emulator` keyword arguments from parsed arguments."""
    return {
        "host": args.host,
        "port": args.port,
        "seed": args.seed,
        "workorders": args.workorders,
        "sites": args.sites,
        "work_types": args.work_types,
        "portal_links": args.portal_links,
        "notifications": args.notifications,
        "latency_ms": args.latency_ms,
        "token_lifetime": args.token_lifetime,
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "max_page_size": args.max_page_size,
        "webhook_time_scale": args.webhook_time_scale,
        "keepalive_timeout": args.keepalive_timeout,
        "fault_specs": list(args.faults),
        "rate_limit": args.rate_limit,
        "rate_limit_retry_after": args.retry_after,
    }


def stop_on_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` (on ``loop``) once stdin reaches end of file (``--watch-stdin``)."""

    def wait_for_eof() -> None:
        # os.read on the descriptor: a buffered reader would hold a lock that blocks shutdown
        with contextlib.suppress(OSError, ValueError):
            while os.read(sys.stdin.fileno(), 4096):
                pass
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, name="cwpro-emulator-stdin", daemon=True).start()


async def serve(args: argparse.Namespace) -> int:
    """Run the emulator described by ``args`` until a signal (or stdin EOF); returns 0."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    async with Emulator(**emulator_options(args)) as emulator:
        add_webhook_targets(emulator, args.webhook_targets)
        announcement = {
            "base_url": emulator.base_url,
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "pid": os.getpid(),
        }
        sys.stdout.write(json.dumps(announcement) + "\n")
        sys.stdout.flush()
        if args.watch_stdin:
            stop_on_stdin_eof(loop, stop)
        await stop.wait()
    return 0


def run(args: argparse.Namespace) -> int:
    """Configure logging and serve (for callers that parsed the arguments themselves)."""
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and serve; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    error = argument_error(args)
    if error is not None:
        parser.error(error)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
