"""Pages streamed through async iterators, with concurrency where it pays.

* :class:`AsyncCursorPaginator` (:mod:`.cursor`) — CWP cursor lists. ``async for item in
  paginator`` streams items; ``paginator.pages()`` streams pages; ``await paginator`` gives the
  first page. ``prefetch`` next pages are fetched while you work on the current one. A walk that
  cannot continue (a cursor cycle, ``hasNext`` without a cursor) raises
  :class:`cwpro.PaginationError`; ids already yielded in the walk are dropped.
* :class:`AsyncExport` (:mod:`.export`) — partitioned concurrent export: several cursor walks
  (partitions, e.g. date ranges from :func:`split_range`) under a concurrency limit, merged into
  one stream. :meth:`AsyncExport.checkpoint` (:mod:`.checkpoint`) gives each partition's resume
  cursor for exactly-once jobs.
* :class:`AsyncPagePaginator` (:mod:`.numbered`) — page-number lists (portal links): page 1
  first, then the other pages concurrently (a bounded window), yielded in page order.
* :class:`CursorPage`, :class:`NumberedPage` (:mod:`.pages`) — the pages, read from the
  envelope as models (the default) or as the envelope's plain dicts (``as_dict=True``).

Every iterator cleans up after itself: ``break``, an exception, or cancellation cancels the
in-flight requests and awaits them; nothing is left pending. When a fetch fails, the error
carries ``resume_cursor``: pass it back as ``cursor=`` to continue with no gap and no repeat.
"""

from .checkpoint import PartitionState
from .cursor import AsyncCursorPaginator, FetchCursorPage
from .export import AsyncExport
from .numbered import AsyncPagePaginator, FetchNumberedPage
from .pages import CursorPage, NumberedPage
from .partitions import split_range
from .planning import PartitionPlan

__all__ = [
    "AsyncCursorPaginator",
    "AsyncExport",
    "AsyncPagePaginator",
    "CursorPage",
    "FetchCursorPage",
    "FetchNumberedPage",
    "NumberedPage",
    "PartitionPlan",
    "PartitionState",
    "split_range",
]
