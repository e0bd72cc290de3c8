"""A dlt source for the CWP API: load it into DuckDB, PostgreSQL or any dlt destination.

Needs the extra ``cwpro[dlt]`` (``cwpro[postgres]`` for PostgreSQL). ``import cwpro`` never
imports dlt, nor does ``import cwpro.dlt``: dlt is imported on first use of a name of this module
(``cwp_source``...), so its dlt-free parts (the fetch) can start before dlt is loaded. ::

    import dlt
    from cwpro.dlt import cwp_source

    pipeline = dlt.pipeline("cwpro", destination="duckdb", dataset_name="cwpro")
    pipeline.run(cwp_source())  # credentials: CWPRO_* variables, arguments or dlt secrets

One resource per collection -- ``workorders``, ``sites``, ``work_types``, ``webhooks``,
``portal_links`` -- each merged into its table on ``_id``. The four cursor collections load
incrementally on ``created_date`` (:func:`dlt.sources.incremental` with a lag window): a run
reads from the newest ``created_date`` loaded before, minus ``lag`` seconds, so late writes in
that window are read again and merged, never duplicated. The window is fetched through the
SDK's concurrent partitioned export; portal links (a page-number API) are read whole and merged.
Each resource runs its client on a private loop in a worker thread (``_threaded``), so a run
that stops early leaves no connection or task behind.
``full_refresh=True`` reads everything again and merges it (the incremental position is left
as it was).

Rows reach dlt as Arrow tables of about 2,000 rows (``arrow=True``, the default; pyarrow comes
with ``cwpro[dlt]``): typed columns from the SDK's models, nested objects and lists as JSON
columns, written by dlt to Parquet without its Python row normalizer -- several times faster.
``arrow=False`` (or pyarrow missing) hands dlt each page of dicts instead: nested objects are
flattened into columns (``address__city``) and lists become child tables
(``workorders__work_type_ids``), as dlt does by default. ``on_stats`` is called after each
batch with a :class:`BatchStats` (progress, counts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cwpro._lazy import lazy_names

if TYPE_CHECKING:
    from ._batches import BatchStats
    from ._fetch import CURSOR_RESOURCES, RESOURCES
    from ._source import DEFAULT_LAG, cwp_source

__all__ = ["CURSOR_RESOURCES", "DEFAULT_LAG", "RESOURCES", "BatchStats", "cwp_source"]

_LAZY = {
    "BatchStats": "._batches",
    "CURSOR_RESOURCES": "._fetch",
    "DEFAULT_LAG": "._source",
    "RESOURCES": "._fetch",
    "cwp_source": "._source",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
