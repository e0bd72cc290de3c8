"""``cwpro export``: stream a whole list to a file, resumable after Ctrl-C, a crash or kill -9."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import attrs

import cwpro

from . import _checkpoint
from ._common import (
    EXIT_API_ERROR,
    EXIT_CODES_EPILOG,
    EXIT_OK,
    ResumeRefused,
    UsageError,
    add_client_arguments,
    add_command,
    error,
    make_client,
    parse_datetime_arg,
    positive_int,
    print_json,
    retries_text,
    retry_counts,
    run_command,
)
from ._export_job import ExportJob
from ._formats import FORMATS, make_format

#: Command-line resource name -> (client attribute, model).
RESOURCES: Final[dict[str, tuple[str, type[cwpro.Model]]]] = {
    "workorders": ("workorders", cwpro.WorkOrder),
    "sites": ("sites", cwpro.Site),
    "work-types": ("work_types", cwpro.WorkType),
    "webhooks": ("webhooks", cwpro.WebhookNotification),
}
DEFAULT_PAGE_SIZE: Final = 500
DEFAULT_PARTITIONS: Final = 4

EXAMPLES: Final = """\
examples:
  cwpro export workorders --out workorders.jsonl
  cwpro export workorders --out open.csv --format csv --in status=open,scheduled \\
      --since 2024-01-01 --until 2024-06-30 --partitions 8
  cwpro export sites --out sites.jsonl --filter timezone=America/Los_Angeles --partitions 1
  cwpro export workorders --out workorders.jsonl --resume    # after Ctrl-C, a crash, kill -9

An existing FILE is never overwritten without --force (or --restart, or continued with --resume).
The output is written page by page; after each page (fsynced) FILE.checkpoint.json records
where every partition stands and how many bytes of FILE are complete. --resume cuts FILE back to
that size and continues, so the result holds every item exactly once. The checkpoint is removed
when the export completes. A resume with other options than the checkpoint's (resource, format,
filters, dates, partitions, --limit, API URL) is refused (3); --concurrency may change. Lines
from different partitions interleave: the order of the lines is not defined.

Partitions split created_date (from --since/--until, else from the oldest and newest item, with
the first partition open towards the past and the last towards the future); --partitions 1 reads
the plain list. Items without a created_date are only exported with --partitions 1 (the command
warns when fewer items than the API announced were written).
"""


@attrs.frozen
class ExportOptions:
    """What ``cwpro export`` was asked to do."""

    resource: str
    out: Path
    format: str
    filter_by: dict[str, Any]
    in_: dict[str, list[str]]
    since: str | None
    until: str | None
    partitions: int
    concurrency: int
    limit: int
    resume: bool
    restart: bool
    force: bool
    progress: bool
    base_url: str | None = None

    def output_options(self, base_url: str) -> dict[str, Any]:
        """The options that decide the output's content (what a resume must not change)."""
        return {
            "resource": self.resource,
            "format": self.format,
            "filter": self.filter_by,
            "in": self.in_,
            "since": self.since,
            "until": self.until,
            "partitions": self.partitions,
            "limit": self.limit,
            "base_url": base_url,
        }

    def resume_command(self) -> str:
        """The exact command line that continues this export (credentials left out)."""
        words = ["cwpro", "export", self.resource, "--out", str(self.out)]
        words += ["--format", self.format, "--partitions", str(self.partitions)]
        words += ["--limit", str(self.limit), "--concurrency", str(self.concurrency)]
        for field, value in self.filter_by.items():
            typed = not isinstance(value, str)
            words += ["--filter", f"{field}:={json.dumps(value)}" if typed else f"{field}={value}"]
        for field, values in self.in_.items():
            words += ["--in", f"{field}={','.join(values)}"]
        for flag, value in (("--since", self.since), ("--until", self.until)):
            if value is not None:
                words += [flag, value]
        if self.base_url is not None:
            words += ["--base-url", self.base_url]
        if not self.progress:
            words.append("--no-progress")
        return shlex.join([*words, "--resume"])

    def query(self) -> dict[str, Any]:
        """The list options shared by every partition."""
        query: dict[str, Any] = {"limit": self.limit}
        if self.filter_by:
            query["filter_by"] = self.filter_by
        if self.in_:
            query["in_"] = self.in_
        return query


def parse_filters(specs: Sequence[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` (a string) or ``FIELD:=JSON`` (a number, true, null...) -> filter_by."""
    result: dict[str, Any] = {}
    for spec in specs:
        field, typed, value = spec.partition(":=")
        if typed:
            try:
                result[field.strip()] = json.loads(value)
            except ValueError:
                raise UsageError(f"--filter {spec!r}: the value after ':=' is not JSON") from None
            continue
        field, sep, value = spec.partition("=")
        if not sep or not field.strip():
            raise UsageError(f"--filter {spec!r}: expected FIELD=VALUE or FIELD:=JSON")
        result[field.strip()] = value
    return result


def parse_in(specs: Sequence[str]) -> dict[str, list[str]]:
    """``FIELD=v1,v2`` (repeatable) -> in_."""
    result: dict[str, list[str]] = {}
    for spec in specs:
        field, sep, values = spec.partition("=")
        items = [value.strip() for value in values.split(",") if value.strip()]
        if not sep or not field.strip() or not items:
            raise UsageError(f"--in {spec!r}: expected FIELD=v1,v2,...")
        result.setdefault(field.strip(), []).extend(items)
    return result


def options_from_args(args: argparse.Namespace) -> ExportOptions:
    """Validate the arguments into :class:`ExportOptions` (``UsageError`` when they are bad)."""
    since = None if args.since is None else parse_datetime_arg(args.since)
    until = None if args.until is None else parse_datetime_arg(args.until, end_of_day=True)
    if since is not None and until is not None and since > until:
        raise UsageError(f"--since {args.since} is after --until {args.until}")
    if args.resume and args.restart:
        raise UsageError("--resume and --restart exclude each other")
    if args.resume and args.force:
        raise UsageError("--resume and --force exclude each other")
    return ExportOptions(
        resource=args.resource,
        out=Path(args.out),
        format=args.format,
        filter_by=parse_filters(args.filters),
        in_=parse_in(args.ins),
        since=None if since is None else since.isoformat(),
        until=None if until is None else until.isoformat(),
        partitions=args.partitions,
        concurrency=args.concurrency or args.partitions,
        limit=args.limit,
        resume=args.resume,
        restart=args.restart,
        force=args.force,
        progress=not args.no_progress,
        base_url=args.base_url,
    )


def add_parser(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``cwpro export``."""
    parser = add_command(
        subparsers,
        "export",
        parents,
        "export a whole list to a JSON lines or CSV file (resumable)",
        "Export every item of a list to FILE, concurrently over date partitions, with a "
        "checkpoint after each page so that an interrupted export resumes exactly.",
        epilog=EXAMPLES + "\n" + EXIT_CODES_EPILOG,
    )
    parser.add_argument("resource", choices=list(RESOURCES), help="what to export")
    parser.add_argument("--out", required=True, metavar="FILE", help="output file")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="default: jsonl")
    parser.add_argument(
        "--filter",
        dest="filters",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="exact match (repeatable); FIELD:=JSON for a non-string value, e.g. latitude:=42.5",
    )
    parser.add_argument(
        "--in",
        dest="ins",
        action="append",
        default=[],
        metavar="FIELD=v1,v2",
        help="FIELD is one of the values (repeatable)",
    )
    parser.add_argument("--since", metavar="ISO", help="created_date from (inclusive)")
    parser.add_argument(
        "--until", metavar="ISO", help="created_date up to (inclusive; a date = its whole day)"
    )
    parser.add_argument(
        "--partitions",
        type=positive_int,
        default=DEFAULT_PARTITIONS,
        metavar="N",
        help=f"created_date partitions walked concurrently (default {DEFAULT_PARTITIONS})",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        metavar="N",
        help="partitions fetched at once (default: all)",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=DEFAULT_PAGE_SIZE,
        metavar="N",
        help=f"items per page, the API's limit, 1..1000 (default {DEFAULT_PAGE_SIZE})",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted export of FILE"
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="discard the checkpoint of an interrupted export of FILE and start over",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite FILE if it exists (a new export)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--max-retries", type=int, default=5, metavar="N", help="retries per request (default 5)"
    )
    add_client_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``cwpro export`` command."""
    options = options_from_args(args)
    return run_command(lambda: export(options, args))


@attrs.define
class ExportSummary:
    """The figures printed when an export ends."""

    resource: str
    output: str
    format: str
    items: int
    items_this_run: int
    bytes: int
    seconds: float
    retries: int
    throttled_retries: int
    failed_retries: int
    partitions: int
    resumed: bool

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON data (with ``items_per_second`` for this run)."""
        rate = self.items_this_run / self.seconds if self.seconds > 0 else 0.0
        return {"event": "export.done", **attrs.asdict(self), "items_per_second": round(rate, 1)}


async def export(options: ExportOptions, args: argparse.Namespace) -> int:
    """Run the export described by ``options`` (see the command's help)."""
    checkpoint_file = _checkpoint.checkpoint_path(options.out)
    saved: _checkpoint.Checkpoint | None = None
    if options.resume:
        saved = _checkpoint.load(checkpoint_file)
    elif checkpoint_file.exists() and not options.restart:
        raise ResumeRefused(
            f"an interrupted export of {options.out} exists ({checkpoint_file}): pass --resume "
            "to continue it, or --restart to start over"
        )
    elif options.out.exists() and not (options.force or options.restart):
        raise UsageError(
            f"{options.out} already exists: pass --force to overwrite it, or choose another --out"
        )
    attribute, model = RESOURCES[options.resource]
    started = time.monotonic()
    async with make_client(args, max_retries=args.max_retries) as client:
        resource = getattr(client, attribute)
        query = options.query()
        try:
            resource.list(**query)  # validates the options before any request
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        job = await ExportJob.start(
            resource=resource,
            query=query,
            page_format=make_format(options.format, model),
            out=options.out,
            described=options.output_options(client.base_url),
            parts=options.partitions,
            since=None if options.since is None else parse_datetime_arg(options.since),
            until=None if options.until is None else parse_datetime_arg(options.until),
            saved=saved,
        )
        try:
            await job.run(
                concurrency=options.concurrency,
                progress=options.progress,
                label=f"export {options.resource}",
            )
        except cwpro.CwproError as exc:
            job.close()
            error(f"{type(exc).__name__}: {exc}")
            sys.stderr.write(
                f"cwpro: {job.items:,} items are safely in {options.out}; continue with the "
                f"same credentials and: {options.resume_command()}\n"
            )
            return EXIT_API_ERROR
        except asyncio.CancelledError:
            job.close()
            sys.stderr.write(
                f"cwpro: stopped: {job.items:,} items are saved in {options.out}; continue with "
                f"the same credentials and:\n  {options.resume_command()}\n"
            )
            raise
        except BaseException:
            job.close()
            raise
        job.finish()
        summary = ExportSummary(
            resource=options.resource,
            output=str(options.out),
            format=options.format,
            items=job.items,
            items_this_run=job.items - job.items_before,
            bytes=job.output.size,
            seconds=round(time.monotonic() - started, 3),
            **retry_counts(client),
            partitions=len(job.partitions),
            resumed=job.resumed,
        )
    _warn_if_short(summary, job.expected_total)
    figures = summary.to_json()
    sys.stderr.write(
        f"exported {summary.items:,} {options.resource} to {summary.output} "
        f"({summary.bytes:,} bytes) in {summary.seconds:.2f} s: "
        f"{figures['items_per_second']:,.0f} items/s, {retries_text(attrs.asdict(summary))}"
        f"{' (resumed)' if summary.resumed else ''}\n"
    )
    print_json(figures)
    return EXIT_OK


def _warn_if_short(summary: ExportSummary, expected_total: int | None) -> None:
    if expected_total is None or summary.items >= expected_total or summary.partitions == 1:
        return
    sys.stderr.write(
        f"cwpro: warning: the API reported {expected_total:,} items when the export started "
        f"and {summary.items:,} were written. Items deleted meanwhile explain a difference; "
        "items without a created_date are only exported with --partitions 1.\n"
    )
