"""What every ``cwpro`` command shares: exit codes, client options, JSON output, signals."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import IO, Any, Final, TypeVar

import cwpro
from cwpro.pagination._closing import closing as closing  # used by the commands

logger = logging.getLogger("cwpro.cli")

_N = TypeVar("_N", int, float)

EXIT_OK: Final = 0
EXIT_API_ERROR: Final = 1
EXIT_FAILURE: Final = 1  # a local failure: a file that cannot be written, a port in use
EXIT_USAGE: Final = 2
EXIT_RESUME_REFUSED: Final = 3
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT
EXIT_TERMINATED: Final = 143  # 128 + SIGTERM
EXIT_STDOUT_CLOSED: Final = 141  # 128 + SIGPIPE, what a shell shows for a tool cut off by `| head`

EXIT_CODES_EPILOG: Final = """\
exit codes:
  0    success
  1    API error (the API answered with an error, or could not be reached), or a local
       failure (the output cannot be written, the port is in use)
  2    usage error (bad arguments, missing credentials)
  3    resume refused (no checkpoint, or it does not match the options / the output file)
  130  interrupted (Ctrl-C); 143 on SIGTERM. An interrupted export can be --resume'd.
  141  stdout was closed before the output ended (e.g. '| head -1'); nothing is printed
"""

NO_CREDENTIALS: Final = (
    "no credentials: pass --client-id and --client-secret (or --token), or set the "
    "CWPRO_CLIENT_ID and CWPRO_CLIENT_SECRET (or CWPRO_TOKEN) environment variables; "
    "--base-url or CWPRO_BASE_URL names the API (try 'cwpro emulator')"
)

CREDENTIALS_HELP: Final = (
    "Credentials: --client-id/--client-secret or --token, else the CWPRO_CLIENT_ID, "
    "CWPRO_CLIENT_SECRET, CWPRO_TOKEN, CWPRO_API_KEY, CWPRO_BASE_URL and CWPRO_ENVIRONMENT "
    "environment variables."
)


class UsageError(Exception):
    """A problem with the command line found after parsing (exit code 2)."""


class ResumeRefused(Exception):
    """An export cannot be resumed (or started) as asked (exit code 3)."""


def add_command(
    subparsers: Any,
    name: str,
    parents: Sequence[argparse.ArgumentParser],
    summary: str,
    description: str | None,
    *,
    epilog: str | None = EXIT_CODES_EPILOG,
) -> argparse.ArgumentParser:
    """Register one command: ``summary`` in its group's list, ``description`` and ``epilog``
    (the exit codes unless told otherwise) printed as written by its ``--help``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        parents=parents,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--base-url --client-id --client-secret --token`` (all optional, env fallback)."""
    group = parser.add_argument_group("connection", CREDENTIALS_HELP)
    group.add_argument("--base-url", help="API base URL (default: CWPRO_BASE_URL or sandbox)")
    group.add_argument("--client-id", help="client id (default: CWPRO_CLIENT_ID)")
    group.add_argument(
        "--client-secret",
        help="client secret (default: CWPRO_CLIENT_SECRET; prefer the variable: "
        "arguments are visible to other users of the machine)",
    )
    group.add_argument("--token", help="a ready bearer token instead of client credentials")


def check_credentials(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`UsageError` naming the flags and variables when no credentials are given."""
    env = os.environ if environ is None else environ

    def given(flag: str, variable: str) -> bool:
        return bool(getattr(args, flag, None) or env.get(variable))

    if given("token", "CWPRO_TOKEN"):
        return
    has_id, has_secret = (
        given("client_id", "CWPRO_CLIENT_ID"),
        given("client_secret", "CWPRO_CLIENT_SECRET"),
    )
    if has_id and has_secret:
        return
    if has_id or has_secret:
        missing = (
            "--client-secret (or CWPRO_CLIENT_SECRET)"
            if has_id
            else ("--client-id (or CWPRO_CLIENT_ID)")
        )
        raise UsageError(
            f"incomplete credentials: {missing} is missing (or use --token / CWPRO_TOKEN)"
        )
    raise UsageError(NO_CREDENTIALS)


def make_client(args: argparse.Namespace, **options: Any) -> cwpro.AsyncClient:
    """A :class:`cwpro.AsyncClient` from the connection arguments (env vars fill the rest)."""
    check_credentials(args)
    return cwpro.AsyncClient(
        args.client_id,
        args.client_secret,
        token=args.token,
        base_url=args.base_url,
        **options,
    )


def to_json(value: Any, *, indent: int | None = None) -> str:
    """``value`` as JSON text (datetimes in ISO 8601, non-ASCII kept)."""
    return json.dumps(value, indent=indent, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "keys"):
        return dict(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_json(value: Any, *, indent: int | None = None, stream: IO[str] | None = None) -> None:
    """Write ``value`` as one JSON document and a newline, flushed (stdout by default)."""
    out = stream if stream is not None else sys.stdout
    out.write(to_json(value, indent=indent) + "\n")
    out.flush()


def at_least(convert: Callable[[str], _N], minimum: _N, what: str) -> Callable[[str], _N]:
    """An argparse type: ``convert(text)`` (``what`` names the expected form in the error),
    refused below ``minimum``."""

    def parse(text: str) -> _N:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum:g}, got {text.strip()}")
        return value

    return parse


#: An integer >= 1 (partitions, page sizes, concurrency).
positive_int = at_least(int, 1, "an integer")
#: A number of seconds >= 0.
seconds = at_least(float, 0.0, "a number of seconds")


def retry_counts(client: cwpro.AsyncClient) -> dict[str, int]:
    """The client's retries so far, split: ``retries`` = ``throttled_retries`` (after a 429,
    paced by the throttle) + ``failed_retries`` (after a 5xx or a broken exchange)."""
    stats = client.stats
    return {
        "retries": stats.retries,
        "throttled_retries": stats.throttled_retries,
        "failed_retries": stats.failed_retries,
    }


def retries_text(counts: Mapping[str, int]) -> str:
    """``3 retries (2 after a 429, 1 after a failure)``, or ``0 retries``."""
    if not counts["retries"]:
        return "0 retries"
    return (
        f"{counts['retries']} retries ({counts['throttled_retries']} after a 429, "
        f"{counts['failed_retries']} after a failure)"
    )


def error(message: str) -> None:
    """Print ``cwpro: error: message`` on stderr."""
    sys.stderr.write(f"cwpro: error: {message}\n")
    sys.stderr.flush()


def stdout_closed() -> int:
    """Stop writing quietly after the reader of stdout went away; returns the exit code (141).

    Further writes (and the interpreter's final flush) go to ``/dev/null``, so neither a
    traceback nor "Broken pipe" reaches the terminal.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_STDOUT_CLOSED


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code of an exception that ended a command (and report it)."""
    if isinstance(exc, BrokenPipeError):
        return stdout_closed()
    if isinstance(exc, ResumeRefused):
        error(str(exc))
        return EXIT_RESUME_REFUSED
    if isinstance(exc, (UsageError, cwpro.ConfigurationError)):
        error(str(exc))
        return EXIT_USAGE
    if isinstance(exc, cwpro.CwproError):
        error(f"{type(exc).__name__}: {exc}")
        return EXIT_API_ERROR
    if isinstance(exc, OSError):  # the output file cannot be written, a port is taken...
        error(str(exc))
        return EXIT_FAILURE
    raise exc


def run_command(
    command: Callable[[], Awaitable[int]], *, exit_quietly_on_signal: bool = False
) -> int:
    """Run an async command to completion with SIGINT/SIGTERM turned into a clean stop.

    A signal cancels the command (its ``async with`` blocks close connections and files) and
    the exit status is 130 (SIGINT) or 143 (SIGTERM), or 0 when ``exit_quietly_on_signal``
    (commands that run until stopped: ``emulator``, ``webhooks listen``).
    """

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        received: list[int] = []

        def on_signal(signum: int) -> None:
            if not received:
                logger.debug("signal %d: stopping", signum)
            received.append(signum)
            task.cancel()

        installed = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, on_signal, signum)
                installed.append(signum)
        try:
            return await command()
        except asyncio.CancelledError:
            if not received:
                raise
            if exit_quietly_on_signal:
                return EXIT_OK
            sys.stderr.write("cwpro: interrupted\n")
            return EXIT_INTERRUPTED if received[0] == signal.SIGINT else EXIT_TERMINATED
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    try:
        return asyncio.run(guarded())
    except KeyboardInterrupt:  # a signal before the handlers were installed
        return EXIT_OK if exit_quietly_on_signal else EXIT_INTERRUPTED
    except Exception as exc:
        return exit_code_for(exc)


def parse_datetime_arg(text: str, *, end_of_day: bool = False) -> _dt.datetime:
    """An ISO 8601 date or datetime from the command line, as an aware UTC datetime.

    ``2024-01-31`` is midnight UTC, or the day's last millisecond with ``end_of_day`` (so
    ``--until 2024-01-31`` includes that whole day). Naive datetimes are taken as UTC.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        if len(value) == 10:
            day = _dt.date.fromisoformat(value)
            moment = _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc)
            if end_of_day:
                moment += _dt.timedelta(days=1) - _dt.timedelta(milliseconds=1)
            return moment
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"not an ISO 8601 date or datetime: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.astimezone(_dt.timezone.utc)
