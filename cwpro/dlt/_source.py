"""``cwp_source``: the dlt source of :mod:`cwpro.dlt` (this module imports dlt)."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final, Optional

import attrs
import dlt
from dlt.extract.resource import DltResource

import cwpro
from cwpro.pagination._closing import closing

from . import _arrow
from ._batches import BatchStats, OnStats, batches
from ._columns import column_hints
from ._fetch import (
    CURSOR_RESOURCES,
    DATE_FIELD,
    MAX_PAGE_SIZE,
    MAX_PARTITIONS,
    OPEN_HIGH,
    OPEN_LOW,
    RESOURCES,
    CursorWindow,
    parse_instant,
    portal_link_pages,
)
from ._prefetch import Prefetch
from ._threaded import stream_in_thread
from ._worker import TableStream

__all__ = ["CURSOR_RESOURCES", "DEFAULT_LAG", "RESOURCES", "BatchStats", "cwp_source"]

#: Seconds of the lag window re-read by each incremental run.
DEFAULT_LAG: Final = 3600.0
DEFAULT_PAGE_SIZE: Final = 500
DEFAULT_PARTITIONS: Final = 8
PRIMARY_KEY: Final = "_id"

logger = logging.getLogger("cwpro")


@attrs.frozen
class _Settings:
    """What every resource of one source needs: how to make a client, how to page."""

    client_options: dict[str, Any]
    page_size: int
    partitions: int
    #: The pyarrow module (rows as Arrow tables), or None (rows as dicts).
    pyarrow: Any
    on_stats: OnStats | None
    #: Windows fetched ahead (``cwpro load``), taken by the resources they fit.
    prefetch: Prefetch | None = None

    def client(self) -> cwpro.AsyncClient:
        return cwpro.AsyncClient(**self.client_options)

    def columns(self, model: type[cwpro.Model]) -> dict[str, dict[str, Any]]:
        """The column hints of ``model`` for the form rows take (Arrow tables or dicts)."""
        return column_hints(model, nested=self.pyarrow is None)

    def items(
        self,
        pages: Iterator[list[dict[str, Any]]] | TableStream,
        resource: str,
        model: type[cwpro.Model],
        date_field: str | None,
    ) -> Iterator[Any]:
        """What the resource yields to dlt for ``pages`` (see ``_batches``)."""
        return batches(
            pages,
            resource=resource,
            model=model,
            pyarrow=self.pyarrow,
            date_field=date_field,
            on_stats=self.on_stats,
        )


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise cwpro.InvalidArgumentError(
            f"{name} must be an integer in {low}..{high}, got {value!r}"
        )
    return value


def _check_lag(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise cwpro.InvalidArgumentError(f"lag must be a number of seconds >= 0, got {value!r}")
    return float(value)


def _incremental(
    *, lag: float, since: _dt.datetime, full_refresh: bool
) -> dlt.sources.incremental[_dt.datetime]:
    """The ``created_date`` cursor of one resource (a fresh object per resource).

    Its values are datetimes (rows carry ``created_date`` as a timestamp in both forms).
    """
    if full_refresh:
        # An end value makes dlt read neither its saved position nor write one: the whole range
        # passes its filter, and the incremental position stays where it was.
        return dlt.sources.incremental(DATE_FIELD, initial_value=since, end_value=OPEN_HIGH)
    return dlt.sources.incremental(DATE_FIELD, initial_value=since, lag=lag or None)


def _cursor_resource(
    name: str, attribute: str, model: type[cwpro.Model], settings: _Settings, cursor: Any
) -> DltResource:
    def pages(
        created_date: dlt.sources.incremental[_dt.datetime] = cursor,
    ) -> Iterator[Any]:
        start = parse_instant(created_date.start_value)
        end = OPEN_HIGH if created_date.end_value is None else parse_instant(created_date.end_value)
        window = CursorWindow(
            attribute, settings.client_options, start, end, settings.page_size, settings.partitions
        )
        fetched: Iterator[list[dict[str, Any]]] | TableStream | None = None
        if settings.prefetch is not None:
            fetched = settings.prefetch.take(name, window, tables=settings.pyarrow is not None)
        if fetched is None:
            fetched = stream_in_thread(
                window.pages, ahead=settings.partitions, name=f"cwpro-dlt-{name}"
            )
        yield from settings.items(fetched, name, model, DATE_FIELD)

    pages.__name__ = name
    pages.__qualname__ = name
    resource: DltResource = dlt.resource(
        pages,
        name=name,
        primary_key=PRIMARY_KEY,
        write_disposition="merge",
        columns=settings.columns(model),
    )
    return resource


def _portal_links_resource(settings: _Settings) -> DltResource:
    def portal_links() -> Iterator[Any]:
        async def stream() -> AsyncIterator[list[dict[str, Any]]]:
            async with settings.client() as client, closing(portal_link_pages(client)) as pages:
                async for batch in pages:
                    yield batch

        fetched = stream_in_thread(stream, name="cwpro-dlt-portal_links")
        yield from settings.items(fetched, "portal_links", cwpro.PortalLink, None)

    resource: DltResource = dlt.resource(
        portal_links,
        name="portal_links",
        primary_key=PRIMARY_KEY,
        write_disposition="merge",
        columns=settings.columns(cwpro.PortalLink),
    )
    return resource


def _pyarrow(arrow: Any) -> Any:
    """The pyarrow module when rows go as Arrow tables, else None."""
    if not isinstance(arrow, bool):
        raise cwpro.InvalidArgumentError(f"arrow must be True or False, got {arrow!r}")
    if not arrow:
        return None
    module = _arrow.load_pyarrow()
    if module is None:
        logger.warning(
            "pyarrow is not installed: rows go through dlt's row normalizer as dicts (slower; "
            "lists become child tables): pip install 'cwpro[dlt]'"
        )
    return module


@dlt.source(name="cwpro", section="cwpro")
def cwp_source(
    client_id: Optional[str] = dlt.secrets.value,  # noqa: UP045 - dlt resolves these at run time
    client_secret: Optional[str] = dlt.secrets.value,  # noqa: UP045
    token: Optional[str] = dlt.secrets.value,  # noqa: UP045
    api_key: Optional[str] = dlt.secrets.value,  # noqa: UP045
    base_url: Optional[str] = dlt.config.value,  # noqa: UP045
    environment: Optional[str] = dlt.config.value,  # noqa: UP045
    lag: float = DEFAULT_LAG,
    since: Optional[str] = None,  # noqa: UP045
    full_refresh: bool = False,
    page_size: int = DEFAULT_PAGE_SIZE,
    partitions: int = DEFAULT_PARTITIONS,
    max_retries: int = 3,
    client_options: Optional[dict[str, Any]] = None,  # noqa: UP045
    arrow: bool = True,
    on_stats: Optional[OnStats] = None,  # noqa: UP045
    prefetch: Optional[Prefetch] = None,  # noqa: UP045
) -> list[DltResource]:
    """The CWP API as a dlt source: one resource per collection (see the module docstring).

    Credentials and endpoint are those of :class:`cwpro.AsyncClient` (``client_id`` and
    ``client_secret``, or ``token``; ``api_key``; ``base_url`` or ``environment``). dlt fills
    the ones not given from its secrets and config (``sources.cwpro.client_secret`` in
    ``secrets.toml``, or ``SOURCES__CWPRO__CLIENT_SECRET``); the client then falls back to
    the ``CWPRO_*`` environment variables.

    Args:
        lag: seconds before the newest ``created_date`` already loaded that the next run reads
            again (late writes inside the window are merged on ``_id``). ``0`` turns it off.
        since: ISO 8601 datetime: the first run starts there instead of at the beginning.
        full_refresh: read every item again (from ``since``) and merge; the saved incremental
            position is neither used nor changed.
        page_size: items per request, 1..1000.
        partitions: at most this many ``created_date`` partitions fetched at once.
        max_retries: retries per request (see :class:`cwpro.AsyncClient`).
        client_options: any other :class:`cwpro.AsyncClient` keyword arguments.
        arrow: rows as Arrow tables (JSON columns for nested values; the fast form, needs
            pyarrow, which ``cwpro[dlt]`` installs), or ``False``: pages of dicts through dlt's
            row normalizer (nested objects flattened, lists as child tables). Without pyarrow,
            dicts are used and a warning is logged. Keep one form per dataset: the tables
            differ.
        on_stats: called with a :class:`BatchStats` after each batch dlt has taken (in dlt's
            extract thread): progress and row counts without reaching into dlt.
        prefetch: windows already being fetched (``cwpro load`` starts them before dlt is
            imported); a resource takes its own only if it is the window dlt gives it.

    Pick resources with ``cwp_source().with_resources("workorders", "sites")``.
    """
    options: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": client_secret,
        "token": token,
        "api_key": api_key,
        "base_url": base_url,
        "environment": environment,
        "max_retries": max_retries,
        **(client_options or {}),
    }
    cwpro.AsyncClient(**options)  # bad credentials or options fail here, before any request
    if on_stats is not None and not callable(on_stats):
        raise cwpro.InvalidArgumentError(f"on_stats must be callable, got {on_stats!r}")
    settings = _Settings(
        client_options=options,
        page_size=_check_int("page_size", page_size, 1, MAX_PAGE_SIZE),
        partitions=_check_int("partitions", partitions, 1, MAX_PARTITIONS),
        pyarrow=_pyarrow(arrow),
        on_stats=on_stats,
        prefetch=prefetch,
    )
    start = OPEN_LOW if since is None else parse_instant(since)
    lag_seconds = _check_lag(lag)
    resources = [
        _cursor_resource(
            name,
            attribute,
            model,
            settings,
            _incremental(lag=lag_seconds, since=start, full_refresh=full_refresh),
        )
        for name, (attribute, model) in CURSOR_RESOURCES.items()
    ]
    resources.append(_portal_links_resource(settings))
    return resources
