"""Cursor windows fetched ahead, before dlt is imported (``cwpro load`` on a first run).

Importing dlt and setting up its pipeline takes about as long as the fetch's first second;
the fetch itself needs none of dlt. So ``cwpro load`` starts the windows it can know without
the pipeline's state (a first run: no state yet; a full refresh: the whole range) here, each in
its own worker (:class:`~cwpro.dlt._threaded.ThreadedStream`, at most ``ahead`` pages held),
and each resource of :func:`cwpro.dlt.cwp_source` takes its prefetched stream only when the
window dlt gives it is the same one (same start, end, page size, partitions and client
options): otherwise the prefetch is cancelled and the resource fetches its own window, so a
wrong guess costs at most ``ahead`` pages of requests, never a row. This module imports no dlt.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ._fetch import CursorWindow
from ._threaded import ThreadedStream

__all__ = ["Prefetch"]


class Prefetch:
    """The prefetched windows of one run, by resource name (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, tuple[CursorWindow, ThreadedStream[Any]]] = {}

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

    def take(self, resource: str, window: CursorWindow) -> Iterator[list[dict[str, Any]]] | None:
        """The pages of ``resource``'s prefetched stream if it fetches ``window``, else None
        (a prefetch of another window is cancelled). A stream is taken at most once."""
        with self._lock:
            entry = self._streams.pop(resource, None)
        if entry is None:
            return None
        fetched, stream = entry
        if fetched != window:
            stream.close()
            return None
        return stream.items()

    def resources(self) -> list[str]:
        """The resources whose prefetch has not been taken."""
        with self._lock:
            return list(self._streams)

    def close(self) -> None:
        """Cancel every prefetch not taken."""
        with self._lock:
            entries = list(self._streams.values())
            self._streams.clear()
        for _, stream in entries:
            stream.close()
