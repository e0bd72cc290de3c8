"""The ``cwpro`` command line (``cwpro ...`` or ``python -m cwpro ...``).

Commands: ``demo``, ``export``, ``load``, ``emulator``, ``webhooks``, ``get``,
``portal-links``. Each lives in its own module with ``add_parser(subparsers, parents)`` and a
handler taking the parsed arguments and returning the exit status. The CLI is a user of the
public library.

Only the command being run is imported: ``cwpro --help`` lists the commands from
:data:`COMMANDS` without loading aiohttp, rich or the emulator. Help texts are printed as plain
text (docstring markup such as ``:class:`` roles and double backquotes is removed).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import re
import sys
from collections.abc import Sequence
from typing import Final

from ._common import EXIT_CODES_EPILOG, exit_code_for, stdout_closed

__all__ = ["COMMANDS", "build_parser", "configure_logging", "main", "plain_text"]

#: Command name -> (module under ``cwpro.cli``, one-line summary shown by ``cwpro --help``).
#: The summary is the module's own ``help=`` (``tests/cli/test_commands.py`` checks they agree).
COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "demo": ("demo", "run the SDK's main jobs against an embedded emulator (no credentials)"),
    "export": ("export", "export a whole list to a JSON lines or CSV file (resumable)"),
    "load": (
        "load",
        "load the API into a database (DuckDB, PostgreSQL... through dlt), incrementally",
    ),
    "emulator": ("emulator", "serve the CWP API emulator on loopback until Ctrl-C"),
    "webhooks": ("webhooks", "receive webhook notifications"),
    "get": ("get", "fetch one object by id and print it as JSON"),
    "portal-links": ("portal_links", "create and list workorder portal links"),
}

_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`(~?)([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``(.+?)``")


def plain_text(text: str) -> str:
    """``text`` without reStructuredText markup: ``:class:`~a.B``` -> ``B``, double backquotes
    -> single quotes."""

    def role(match: re.Match[str]) -> str:
        tilde, target = match.groups()
        return target.rpartition(".")[2] if tilde else target

    return _LITERAL.sub(r"'\1'", _ROLE.sub(role, text))


class _PlainParser(argparse.ArgumentParser):
    """An argument parser whose help and usage texts are plain (no docstring markup).

    Subcommand parsers inherit the class (``add_subparsers`` uses the parent's type).
    """

    def format_help(self) -> str:
        return plain_text(super().format_help())

    def format_usage(self) -> str:
        return plain_text(super().format_usage())


def _verbosity_parent() -> _PlainParser:
    """``-v/--verbose``, accepted before or after the command name."""
    parent = _PlainParser(add_help=False)
    parent.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="debug logging of the 'cwpro' loggers on stderr (same as CWPRO_LOG=debug)",
    )
    return parent


def _command_of(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first word that is not an option)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``cwpro`` argument parser.

    With ``argv``, only the command it names is fully built (its module imported); the others
    appear with their summary. Without, every command is built.
    """
    from cwpro._version import __version__

    selected = None if argv is None else _command_of(argv)
    parents = [_verbosity_parent()]
    parser = _PlainParser(
        prog="cwpro",
        description="Command line of the cwpro SDK for the CLOUDWORK|PRO API. Try 'cwpro demo' "
        "(no credentials needed).",
        epilog=EXIT_CODES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=parents,
    )
    parser.add_argument("--version", action="version", version=f"cwpro {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, summary) in COMMANDS.items():
        if argv is None or name == selected:
            module = importlib.import_module(f"{__name__}.{module_name}")
            module.add_parser(commands, parents)
        else:
            commands.add_parser(name, help=summary, parents=parents)
    return parser


def configure_logging(verbose: bool) -> None:
    """``-v``: the ``cwpro`` loggers at DEBUG on stderr; else ``CWPRO_LOG`` or warnings."""
    import logging

    from cwpro import _logging

    if verbose:
        _logging.enable_stderr_logging(logging.DEBUG)
    elif _logging.configure_from_env() is None:
        _logging.enable_stderr_logging(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cwpro`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(arguments)
        try:
            args = parser.parse_args(arguments)
        except SystemExit as exc:  # --help, --version, or a usage error (status 2)
            sys.stdout.flush()
            return exc.code if isinstance(exc.code, int) else 0
        configure_logging(getattr(args, "verbose", False))
        try:
            status: int = args.handler(args)
        except Exception as exc:
            return exit_code_for(exc)
        sys.stdout.flush()
        return status
    except BrokenPipeError:  # the reader of stdout went away (`cwpro ... | head -1`)
        return stdout_closed()
    finally:
        if argv is None:  # the command line's process: it ends with this status
            # The interpreter's last collections would walk every object of every imported
            # module (~0.1 s after `cwpro load`, which imports dlt); frozen, they are skipped.
            gc.freeze()
