"""``cwpro load``: load the API into a database through dlt (``cwpro.dlt``), incrementally.

dlt is imported only when the command runs (``cwpro[dlt]``; ``cwpro[postgres]`` for PostgreSQL).
The destination is checked before anything is fetched: installed, configured, reachable --
except that a first run or a full refresh into DuckDB starts fetching while dlt is imported
(:func:`_prefetch`; a DuckDB file needs no configuration, and a failed check cancels it).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from ._common import (
    EXIT_API_ERROR,
    EXIT_CODES_EPILOG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_client_arguments,
    add_command,
    error,
    logger,
    parse_datetime_arg,
    positive_int,
    print_json,
    seconds,
)
from ._progress import item_progress

if TYPE_CHECKING:
    from dlt import Pipeline
    from dlt.common.typing import TLoaderFileFormat

    from cwpro.dlt import BatchStats
    from cwpro.dlt._prefetch import Prefetch

#: The resources of ``cwpro.dlt.cwp_source`` (command-line spellings with '-' accepted too;
#: spelled out here so that parsing the command line imports nothing of cwpro.dlt).
RESOURCES: Final = ("workorders", "sites", "work_types", "webhooks", "portal_links")
#: Rows a prefetch thread holds at most per resource before dlt takes them (pages of dicts).
PREFETCH_ROWS: Final = 10_000
#: Rows the fetch worker process holds at most per resource, in Parquet files not yet taken
#: (a few hundred bytes a row on disk; about the time dlt takes to import, at the emulator's
#: pace).
WORKER_ROWS: Final = 40_000
#: What to install for a destination whose dlt extra is missing.
INSTALL_HINTS: Final = {
    "postgres": "pip install 'cwpro[postgres]'",
    "duckdb": "pip install 'cwpro[dlt]'",
}
#: Load file formats faster than dlt's default for a destination, for rows as Arrow tables
#: (written by dlt to Parquet, which DuckDB reads as it is) and as dicts (``--nested-tables``;
#: DuckDB: JSON lines load 5x faster than SQL inserts).
FILE_FORMATS: Final[dict[bool, dict[str, TLoaderFileFormat]]] = {
    True: {"duckdb": "parquet"},
    False: {"duckdb": "jsonl"},
}
#: dlt settings this command changes unless they are set:
#:
#: * dlt gzips its intermediate files, which cost more time than anything else in a profiled
#:   20,000-item load (the files are deleted once loaded);
#: * dlt keeps the rows of the last merge in the staging dataset until the next load: in a
#:   DuckDB file that is a second copy of them, written at every checkpoint (the file of a
#:   20,000-row first load: 7.6 MB with it, 4.5 MB without, and ~0.06 s less to close).
DLT_DEFAULTS: Final = {
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    "LOAD__TRUNCATE_STAGING_DATASET": "true",
}
#: Allocations between two young-generation collections while the command runs (Python's
#: default is 700): decoding 20,000 work orders makes a few million containers, and with the
#: default a 20,000-item load spent ~0.2 s of its ~2.5 s in the collector (see :func:`_collector`).
YOUNG_THRESHOLD: Final = 10_000
DEFAULT_NAME: Final = "cwpro"
#: Not the pipeline's name: DuckDB would see a catalog (the file) and a schema of one name.
DEFAULT_DATASET: Final = "cwp"

EXAMPLES: Final = """\
examples:
  cwpro load --destination duckdb                 # everything into ./cwpro.duckdb
  cwpro load workorders sites --destination duckdb --dataset-name cwp_test
  DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:password@host:5432/db \\
      cwpro load --destination postgres
  cwpro load --destination duckdb --full-refresh  # read everything again, merge
  cwpro load --destination duckdb --nested-tables # lists as child tables (slower)

Each table is merged on _id. Work orders, sites, work types and webhooks load incrementally on
created_date: a run reads from the newest created_date loaded before, minus --lag seconds (late
writes in that window are merged, not duplicated). Portal links are read whole and merged.
Nested objects and lists are JSON columns; --nested-tables has dlt flatten objects into columns
and make child tables of lists instead (through its row normalizer: several times slower).
Destination settings are dlt's (DESTINATION__<NAME>__CREDENTIALS, .dlt/secrets.toml); the
pipeline's state lives in --pipelines-dir (dlt's default: ~/.dlt/pipelines, /var/dlt as root).
A run that fails or is interrupted reports nothing as loaded; the same command completes it
(data extracted but not loaded is loaded first).
"""


def _resource_name(text: str) -> str:
    name = text.strip().replace("-", "_")
    if name not in RESOURCES:
        raise argparse.ArgumentTypeError(
            f"unknown resource {text!r} (choose from {', '.join(RESOURCES)})"
        )
    return name


def add_parser(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Register ``cwpro load``."""
    parser = add_command(
        subparsers,
        "load",
        parents,
        "load the API into a database (DuckDB, PostgreSQL... through dlt), incrementally",
        "Load work orders, sites, work types, webhook notifications and portal links into a "
        "database with dlt, merging on _id; later runs read only what is new.",
        epilog=EXAMPLES + "\n" + EXIT_CODES_EPILOG,
    )
    parser.add_argument(
        "resources",
        nargs="*",
        type=_resource_name,
        metavar="RESOURCE",
        help=f"what to load (default: all of {', '.join(RESOURCES)})",
    )
    parser.add_argument(
        "--destination", default="duckdb", help="a dlt destination name (default: duckdb)"
    )
    parser.add_argument(
        "--dataset-name",
        default=DEFAULT_DATASET,
        help=f"schema/dataset (default: {DEFAULT_DATASET})",
    )
    parser.add_argument(
        "--pipeline-name",
        default=DEFAULT_NAME,
        help=f"dlt pipeline name: its state, and the DuckDB file name (default: {DEFAULT_NAME})",
    )
    parser.add_argument("--pipelines-dir", metavar="DIR", help="where dlt keeps pipeline state")
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="read every item again and merge (the incremental position is kept)",
    )
    parser.add_argument(
        "--nested-tables",
        action="store_true",
        help="dlt's own shape: objects flattened into columns, lists as child tables (slower); "
        "default: JSON columns",
    )
    parser.add_argument(
        "--lag",
        type=seconds,
        default=3600.0,
        metavar="SECONDS",
        help="re-read window before the newest created_date loaded (default 3600)",
    )
    parser.add_argument("--since", metavar="ISO", help="first run: created_date from")
    parser.add_argument(
        "--partitions",
        type=positive_int,
        default=8,
        metavar="N",
        help="created_date partitions fetched at once (default 8)",
    )
    parser.add_argument(
        "--limit",
        type=positive_int,
        default=500,
        metavar="N",
        help="items per request, 1..1000 (default 500)",
    )
    parser.add_argument(
        "--max-retries", type=int, default=5, metavar="N", help="retries per request (default 5)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    add_client_arguments(parser)
    parser.set_defaults(handler=run)


class _Counts:
    """Rows handed to dlt per resource, from ``cwp_source(on_stats=...)`` (thread-safe)."""

    def __init__(self, on_change: Callable[[int], None]) -> None:
        self.rows: dict[str, int] = {}
        self._lock = threading.Lock()
        self._on_change = on_change

    def __call__(self, stats: BatchStats) -> None:
        with self._lock:
            self.rows[stats.resource] = stats.total_rows
            total = sum(self.rows.values())
        self._on_change(total)


def _import_dlt() -> Any:
    try:
        import dlt
    except ImportError:
        raise UsageError("cwpro load needs dlt: pip install 'cwpro[dlt]'") from None
    return dlt


def _pipeline(args: argparse.Namespace, stack: contextlib.ExitStack) -> Pipeline:
    """The pipeline, with its destination checked: installed, configured and reachable.

    An embedded database (DuckDB) is kept open on ``stack`` for the whole run: dlt opens and
    closes it around each of its steps and load jobs, and each last close is a checkpoint
    of the file; with one connection held here the others share the open database (DuckDB
    keeps one instance per file in a process) and the file is checkpointed once, at the end.
    """
    dlt = _import_dlt()
    from dlt.common.configuration.exceptions import ConfigurationException
    from dlt.common.destination.exceptions import DestinationException
    from dlt.common.exceptions import MissingDependencyException

    options: dict[str, Any] = {}
    if args.pipelines_dir:
        options["pipelines_dir"] = args.pipelines_dir
    try:
        pipeline: Pipeline = dlt.pipeline(
            args.pipeline_name,
            destination=args.destination,
            dataset_name=args.dataset_name,
            **options,
        )
        client = pipeline.destination_client()
    except MissingDependencyException:
        hint = INSTALL_HINTS.get(args.destination, f"pip install 'dlt[{args.destination}]'")
        raise UsageError(f"the {args.destination} destination is not installed: {hint}") from None
    except ConfigurationException as exc:
        raise UsageError(
            f"the {args.destination} destination is not configured: {_first_line(exc)} "
            f"(e.g. DESTINATION__{args.destination.upper()}__CREDENTIALS; see dlt's docs)"
        ) from None
    except DestinationException as exc:
        raise UsageError(
            f"unknown destination {args.destination!r}: give the name of a dlt destination, "
            f"e.g. duckdb or postgres ({type(exc).__name__})"
        ) from None
    try:  # opens a connection to SQL destinations
        if _embedded(client):
            # cast: dlt annotates __exit__'s arguments without None
            stack.enter_context(cast("contextlib.AbstractContextManager[Any]", client))
        else:
            with client:
                pass
    except Exception as exc:
        raise _Unreachable(
            f"cannot connect to the {args.destination} destination: {_first_line(exc)}"
        ) from None
    return pipeline


def _embedded(client: Any) -> bool:
    """Whether ``client`` is of a database inside this process (DuckDB: a connection pool)."""
    credentials = getattr(getattr(client, "config", None), "credentials", None)
    return getattr(credentials, "conn_pool", None) is not None


class _Unreachable(Exception):
    """The destination did not accept a connection (exit 1)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _file_format(destination: str, *, nested_tables: bool) -> TLoaderFileFormat | None:
    """The load file format for ``destination``, for the form rows will really take (Arrow
    tables unless ``--nested-tables`` or pyarrow is missing: then dicts), or None: dlt's own."""
    from cwpro.dlt import _arrow

    as_tables = not nested_tables and _arrow.load_pyarrow() is not None
    return FILE_FORMATS[as_tables].get(destination)


def _source(
    args: argparse.Namespace, on_stats: Callable[[BatchStats], None], prefetch: Prefetch | None
) -> Any:
    import cwpro
    from cwpro.dlt import cwp_source

    since = None if args.since is None else parse_datetime_arg(args.since).isoformat()
    try:
        source = cwp_source(
            client_id=args.client_id,
            client_secret=args.client_secret,
            token=args.token,
            base_url=args.base_url,
            lag=args.lag,
            since=since,
            full_refresh=args.full_refresh,
            page_size=args.limit,
            partitions=args.partitions,
            max_retries=args.max_retries,
            arrow=not args.nested_tables,
            on_stats=on_stats,
            prefetch=prefetch,
        )
    except Exception as exc:
        cause = _root_cause(exc)
        if isinstance(cause, (cwpro.ConfigurationError, cwpro.InvalidArgumentError)):
            raise UsageError(str(cause)) from None
        raise
    return source.with_resources(*(args.resources or RESOURCES))


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception dlt wrapped (``PipelineStepFailed`` -> the resource's error)."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__ or exc.__context__ or getattr(exc, "exception", None)
        if not isinstance(inner, BaseException) or id(inner) in seen:
            return exc
        seen.add(id(inner))
        exc = inner


@contextlib.contextmanager
def _dlt_defaults() -> Iterator[None]:
    """:data:`DLT_DEFAULTS` in the environment (where not set) while the command runs."""
    added = {name: value for name, value in DLT_DEFAULTS.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def _collector() -> Iterator[Callable[[], None]]:
    """The garbage collector tuned for one bulk run; yields ``settled``, to call once the
    imports and the pipeline are set up.

    Young collections run every :data:`YOUNG_THRESHOLD` allocations instead of 700, and
    ``settled`` freezes what exists by then (dlt's and DuckDB's modules, the pipeline: hundreds
    of thousands of objects that live until the process ends) so full collections no longer
    walk it. Cyclic garbage is still collected. Both are undone at the end (``cwpro load``
    can run inside a longer-lived process: the tests).
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, *thresholds[1:])
    frozen = False

    def settled() -> None:
        nonlocal frozen
        gc.freeze()
        frozen = True

    try:
        yield settled
    finally:
        gc.set_threshold(*thresholds)
        if frozen:
            gc.unfreeze()


def run(args: argparse.Namespace) -> int:
    """The ``cwpro load`` command."""
    with _dlt_defaults(), _collector() as settled:
        try:
            return _run(args, settled)
        except KeyboardInterrupt:  # at any step: importing dlt, fetching, loading
            sys.stderr.write(
                "cwpro: interrupted: nothing of this run is reported as loaded; the same "
                "command completes it\n"
            )
            return EXIT_INTERRUPTED


def _run(args: argparse.Namespace, settled: Callable[[], None]) -> int:
    with contextlib.ExitStack() as stack:
        started = time.monotonic()
        prefetch = _prefetch(args)
        if prefetch is not None:
            stack.callback(prefetch.close)
        return _load(args, settled, stack, prefetch, started)


def _state_absent(args: argparse.Namespace) -> bool:
    """Whether the pipeline certainly has no local state yet (its first run here): only when
    its folder is known without dlt (``--pipelines-dir``, or dlt's ``DLT_DATA_DIR``)."""
    if args.pipelines_dir:
        pipelines = Path(args.pipelines_dir)
    elif os.environ.get("DLT_DATA_DIR"):
        pipelines = Path(os.environ["DLT_DATA_DIR"]) / "pipelines"
    else:
        return False
    return not (pipelines / args.pipeline_name / "state.json").exists()


def _prefetch(args: argparse.Namespace) -> Prefetch | None:
    """Start fetching, before dlt is imported, the windows this run will read, when they can
    be known without the pipeline's state (see ``cwpro.dlt._prefetch``); None otherwise.

    Only into DuckDB with dlt and duckdb installed (an embedded file: nothing to configure or
    reach, so the destination check that follows fails only in rare cases -- a locked or
    unwritable file -- and then cancels the prefetch), and only for a full refresh or a first
    run: then the window is ``[--since, the end of time]``. A resource whose window from dlt
    differs (state restored from the destination, dlt config with other credentials) does
    not use it.
    """
    if args.destination != "duckdb" or not (args.full_refresh or _state_absent(args)):
        return None
    if any(importlib.util.find_spec(name) is None for name in ("dlt", "duckdb")):
        return None
    import cwpro
    from cwpro.dlt._fetch import (
        CURSOR_RESOURCES,
        MAX_PAGE_SIZE,
        MAX_PARTITIONS,
        OPEN_HIGH,
        OPEN_LOW,
        CursorWindow,
    )

    resources = [name for name in args.resources or RESOURCES if name in CURSOR_RESOURCES]
    if not resources or not 1 <= args.limit <= MAX_PAGE_SIZE or args.partitions > MAX_PARTITIONS:
        return None
    from cwpro.dlt._prefetch import Prefetch
    from cwpro.dlt._spool import FILE_ROWS
    from cwpro.dlt._worker import worker_helps

    options: dict[str, Any] = {
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "token": args.token,
        "api_key": None,
        "base_url": args.base_url,
        "environment": None,
        "max_retries": args.max_retries,
    }  # what cwp_source makes of the arguments _source gives it
    try:
        cwpro.AsyncClient(**options)  # no credentials: cwp_source reports it, nothing to fetch
        since = OPEN_LOW if args.since is None else parse_datetime_arg(args.since)
    except Exception:
        return None
    windows = {  # the windows cwp_source's resources will ask for on a first run
        name: CursorWindow(
            CURSOR_RESOURCES[name][0], options, since, OPEN_HIGH, args.limit, args.partitions
        )
        for name in resources
    }
    prefetch = Prefetch()
    if not args.nested_tables and importlib.util.find_spec("pyarrow") and worker_helps():
        try:
            prefetch.start_worker(windows, ahead=-(-WORKER_ROWS // FILE_ROWS))
        except OSError as exc:  # no process to be had (limits): a thread does it
            logger.debug("no fetch worker process (%s): fetching in threads", exc)
        else:
            return prefetch
    ahead = max(args.partitions, -(-PREFETCH_ROWS // args.limit))
    for name, window in windows.items():
        prefetch.start(name, window, ahead=ahead)
    return prefetch


def _load(
    args: argparse.Namespace,
    settled: Callable[[], None],
    stack: contextlib.ExitStack,
    prefetch: Prefetch | None,
    started: float,
) -> int:
    try:
        pipeline = _pipeline(args, stack)
    except _Unreachable as exc:
        error(f"{exc}; check the credentials and that the database is running")
        return EXIT_FAILURE
    progress = item_progress(f"load into {args.destination}", enabled=not args.no_progress)
    counts = _Counts(lambda total: progress.update(total, None))
    source = _source(args, counts, prefetch)
    settled()
    with progress:
        try:
            file_format = _file_format(args.destination, nested_tables=args.nested_tables)
            if file_format is None:
                info = pipeline.run(source)
            else:
                info = pipeline.run(source, loader_file_format=file_format)
        except Exception as exc:
            if isinstance(_root_cause(exc), KeyboardInterrupt):  # dlt wrapped a Ctrl-C
                raise KeyboardInterrupt from None
            return _failed(exc, pipeline)
        progress.update(sum(counts.rows.values()), sum(counts.rows.values()))
    stack.close()  # the database closed (DuckDB: checkpointed) before the run is reported
    seconds = round(time.monotonic() - started, 3)
    rows = {name: counts.rows.get(name, 0) for name in args.resources or RESOURCES}
    where = getattr(info, "destination_displayable_credentials", None) or args.destination
    sys.stderr.write(
        f"loaded {', '.join(f'{n:,} {name}' for name, n in rows.items())} into "
        f"{args.destination} dataset {args.dataset_name!r} ({where}) in {seconds:.2f} s"
        f"{' (full refresh)' if args.full_refresh else ''}\n"
    )
    print_json(
        {
            "event": "load.done",
            "destination": args.destination,
            "dataset": args.dataset_name,
            "pipeline": args.pipeline_name,
            "rows": rows,
            "total_rows": sum(rows.values()),
            "load_ids": list(info.loads_ids),
            "seconds": seconds,
            "full_refresh": args.full_refresh,
            "nested_tables": args.nested_tables,
        }
    )
    return EXIT_OK


def _failed(exc: Exception, pipeline: Any) -> int:
    """Report a failed run (nothing of it is reported as loaded) and choose the exit code."""
    import cwpro

    cause = _root_cause(exc)
    step = getattr(exc, "step", None)
    if isinstance(cause, (cwpro.ConfigurationError, cwpro.InvalidArgumentError)):
        error(str(cause))
        return EXIT_USAGE
    what = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
    error(f"the load failed{f' in the {step} step' if step else ''}: {what.splitlines()[0]}")
    if step in ("normalize", "load") and pipeline.has_pending_data:
        sys.stderr.write(
            "cwpro: what was fetched is kept in the pipeline's working folder and nothing of "
            "this run is reported as loaded; the same command loads it first, then continues\n"
        )
    else:
        sys.stderr.write(
            "cwpro: nothing of this run was loaded; the same command starts it again from the "
            "last completed load\n"
        )
    return EXIT_API_ERROR if isinstance(cause, cwpro.CwproError) else EXIT_FAILURE
