"""Cursor windows fetched ahead, before dlt is imported (``cwpro load`` on a first run).

Importing dlt and setting up its pipeline takes about as long as the fetch's first second;
the fetch itself needs none of dlt. So ``cwpro load`` starts the windows it can know without
the pipeline's state (a first run: no state yet; a full refresh: the whole range) here: all of
them in one worker process that writes them to Parquet files too
(:meth:`Prefetch.start_worker`, ``_worker``: a core of its own while dlt is imported), or
each in a worker thread of this process (:meth:`Prefetch.start`, pages of dicts, at most
``ahead`` held). Each resource of
:func:`cwpro.dlt.cwp_source` takes its prefetched stream only when the window dlt gives it is
the same one (same start, end, page size, partitions and client options) and in a form it
takes: otherwise the prefetch is cancelled and the resource fetches its own window, so a wrong
guess costs at most ``ahead`` pages (or files) of requests, never a row. This module imports
no dlt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from ._fetch import CURSOR_RESOURCES, CursorWindow
from ._threaded import ThreadedStream
from ._worker import FetchWorker, TableStream

__all__ = ["Prefetch"]

logger = logging.getLogger("cwpro.dlt")


class Prefetch:
    """The prefetched windows of one run, by resource name (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, tuple[CursorWindow, ThreadedStream[Any] | TableStream]] = {}
        self._workers: list[FetchWorker] = []

    def start(self, resource: str, window: CursorWindow, *, ahead: int) -> None:
        """Start fetching ``window`` for ``resource`` (at most ``ahead`` pages held)."""
        stream: ThreadedStream[Any] = ThreadedStream(
            window.pages, ahead=ahead, name=f"cwpro-dlt-{resource}"
        )
        with self._lock:
            previous = self._streams.pop(resource, None)
            self._streams[resource] = (window, stream)
        if previous is not None:
            previous[1].close()

    def start_worker(
        self, windows: Mapping[str, CursorWindow], *, ahead: int, method: str = "fork"
    ) -> None:
        """Start fetching ``windows`` (by resource) as Parquet files of Arrow tables in one
        worker process, at most ``ahead`` files held per resource (see ``_worker`` for
        ``method``)."""
        models = {name: (window, CURSOR_RESOURCES[name][1]) for name, window in windows.items()}
        worker = FetchWorker(models, ahead=ahead, method=method)
        with self._lock:
            self._workers.append(worker)
            previous = [self._streams.pop(name, None) for name in windows]
            self._streams.update(
                (name, (window, worker.stream(name))) for name, window in windows.items()
            )
        for entry in previous:
            if entry is not None:
                entry[1].close()

    def take(
        self, resource: str, window: CursorWindow, *, tables: bool
    ) -> Iterator[list[dict[str, Any]]] | TableStream | None:
        """``resource``'s prefetched stream if it fetches ``window`` in a form the resource
        takes (Arrow tables fit only ``tables``; pages of dicts fit both), else None (the
        prefetch is cancelled). A stream is taken at most once."""
        with self._lock:
            entry = self._streams.pop(resource, None)
        if entry is None:
            return None
        fetched, stream = entry
        if fetched != window or (isinstance(stream, TableStream) and not tables):
            logger.debug("%s: its prefetch is not the window or form asked for: dropped", resource)
            stream.close()
            return None
        logger.debug("%s: taking its prefetched window", resource)
        return stream if isinstance(stream, TableStream) else stream.items()

    def resources(self) -> list[str]:
        """The resources whose prefetch has not been taken."""
        with self._lock:
            return list(self._streams)

    def close(self) -> None:
        """Cancel every prefetch not taken; stop the worker process."""
        with self._lock:
            entries = list(self._streams.values())
            self._streams.clear()
            workers, self._workers = self._workers, []
        for _, stream in entries:
            stream.close()
        for worker in workers:
            worker.close()
