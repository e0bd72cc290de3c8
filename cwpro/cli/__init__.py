"""The ``cwpro`` command line (``cwpro ...`` or ``python -m cwpro ...``).

Commands: ``demo``, ``export``, ``load``, ``emulator``, ``webhooks listen``, ``get``,
``portal-links``.
Each lives in its own module with ``add_parser(subparsers, parents)`` and a handler taking the
parsed arguments and returning the exit status. The CLI is a user of the public library.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ._common import EXIT_CODES_EPILOG, exit_code_for

__all__ = ["build_parser", "main"]


def _verbosity_parent() -> argparse.ArgumentParser:
    """``-v/--verbose``, accepted before or after the command name."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="debug logging of the 'cwpro' loggers on stderr",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The ``cwpro`` argument parser with every command."""
    from cwpro import __version__

    from . import demo, emulator, export, get, load, portal_links, webhooks

    parents = [_verbosity_parent()]
    parser = argparse.ArgumentParser(
        prog="cwpro",
        description="Command line of the cwpro SDK for the CLOUDWORK|PRO API. Try 'cwpro demo' "
        "(no credentials needed).",
        epilog=EXIT_CODES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=parents,
    )
    parser.add_argument("--version", action="version", version=f"cwpro {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (demo, export, load, emulator, webhooks, get, portal_links):
        module.add_parser(commands, parents)
    return parser


def configure_logging(verbose: bool) -> None:
    """Send the ``cwpro`` loggers to stderr: DEBUG with ``-v``, else warnings and errors."""
    root = logging.getLogger("cwpro")
    if not any(getattr(h, "_cwpro_cli", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._cwpro_cli = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cwpro`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (status 2)
        return exc.code if isinstance(exc.code, int) else 0
    configure_logging(getattr(args, "verbose", False))
    try:
        status: int = args.handler(args)
    except Exception as exc:
        return exit_code_for(exc)
    return status
