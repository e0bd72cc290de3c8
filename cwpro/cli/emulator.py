"""``cwpro emulator``: serve the CWP API emulator in the foreground until Ctrl-C.

Takes the options of ``python -m cwpro.emulator``. The first line on stdout is the same JSON
announcement (``base_url``, ``client_id``, ``client_secret``, ``pid``); stderr shows how to point
``cwpro`` (or any CWPRO_* aware program) at it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._common import EXIT_OK, EXIT_USAGE, add_command, print_json, run_command


def add_parser(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``cwpro emulator`` (options shared with ``python -m cwpro.emulator``)."""
    from cwpro.emulator.__main__ import add_arguments

    summary = "serve the CWP API emulator on loopback until Ctrl-C"
    parser = add_command(subparsers, "emulator", parents, summary, __doc__, epilog=None)
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``cwpro emulator`` command."""
    from cwpro.emulator.__main__ import argument_error

    error = argument_error(args)
    if error is not None:
        sys.stderr.write(f"cwpro emulator: {error}\n")
        return EXIT_USAGE
    if not logging.getLogger("cwpro").isEnabledFor(logging.DEBUG):
        logging.getLogger("cwpro.emulator").setLevel(args.log_level)
    return run_command(lambda: serve(args), exit_quietly_on_signal=True)


async def serve(args: argparse.Namespace) -> int:
    """Run the emulator until cancelled (Ctrl-C, SIGTERM) or, with --watch-stdin, stdin EOF."""
    from cwpro.emulator import Emulator
    from cwpro.emulator.__main__ import add_webhook_targets, emulator_options, stop_on_stdin_eof

    stop = asyncio.Event()
    async with Emulator(**emulator_options(args)) as emulator:
        add_webhook_targets(emulator, args.webhook_targets)
        print_json(
            {
                "base_url": emulator.base_url,
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
                "pid": os.getpid(),
            }
        )
        sys.stderr.write(
            f"CWP emulator on {emulator.base_url} (Ctrl-C to stop). Point cwpro at it with:\n"
            f"  export CWPRO_BASE_URL={emulator.base_url}\n"
            f"  export CWPRO_CLIENT_ID={emulator.client_id}\n"
            f"  export CWPRO_CLIENT_SECRET={emulator.client_secret}\n"
        )
        sys.stderr.flush()
        if args.watch_stdin:
            stop_on_stdin_eof(asyncio.get_running_loop(), stop)
        await stop.wait()
    return EXIT_OK
