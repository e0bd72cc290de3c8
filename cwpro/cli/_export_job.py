"""One run of ``cwpro export``: start or resume, stream pages, commit each page durably.

A page is committed in this order, in a worker thread (so fetching goes on meanwhile): append
its bytes to the output, fsync the output, then atomically replace the checkpoint with the
export's state *as of that page*. The next page is taken only once the commit is complete, so
the checkpoint never runs ahead of the file; a crash leaves at most one committed-but-unrecorded
page at the end of the file, which a resume cuts off and fetches again.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

import cwpro

from . import _checkpoint
from ._common import ResumeRefused, closing
from ._formats import PageFormat
from ._output import DurableOutput
from ._partitions import Lister, partitions_from_json, partitions_to_json, plan_partitions
from ._progress import item_progress

T = TypeVar("T")


async def finish_in_thread(function: Callable[[], T]) -> T:
    """Run blocking ``function`` in a thread; if cancelled meanwhile, let it finish first.

    A commit cut in half by Ctrl-C would still be safe (the checkpoint is written last), but
    closing the file under a writing thread is not.
    """
    future = asyncio.get_running_loop().run_in_executor(None, function)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _paginator_factory(
    lister: Lister,
) -> Callable[[Mapping[str, Any], str | None], cwpro.AsyncCursorPaginator[Any]]:
    def make(query: Mapping[str, Any], cursor: str | None) -> cwpro.AsyncCursorPaginator[Any]:
        options = dict(query)
        if cursor is not None:
            options["cursor"] = cursor
        return lister(**options)

    return make


@attrs.define
class ExportJob:
    """Everything one export run needs; :meth:`run` streams the pages to :attr:`output`."""

    lister: Lister
    query: dict[str, Any]
    page_format: PageFormat
    checkpoint_file: Path
    record: _checkpoint.Checkpoint
    partitions: list[dict[str, Any]]
    output: DurableOutput
    items_before: int
    resumed: bool
    items: int = 0

    @classmethod
    async def start(
        cls,
        *,
        lister: Lister,
        query: dict[str, Any],
        page_format: PageFormat,
        out: Path,
        described: dict[str, Any],
        parts: int,
        since: _dt.datetime | None,
        until: _dt.datetime | None,
        saved: _checkpoint.Checkpoint | None,
    ) -> ExportJob:
        """A new export (partitions planned, output created) or the resumption of ``saved``."""
        checkpoint_file = _checkpoint.checkpoint_path(out)
        fingerprint = _checkpoint.fingerprint(described)
        if saved is not None:
            if saved.fingerprint != fingerprint:
                _refuse_on_mismatch(saved.options, described)
            try:
                partitions = partitions_from_json(saved.partitions)
            except ValueError as exc:
                raise ResumeRefused(f"cannot resume from {checkpoint_file}: {exc}") from None
            state = _checkpoint.settled_state(saved.state)
            expected_total = saved.expected_total
            output = DurableOutput.reopen(out, saved.bytes_written)
            items_before = saved.items_written
        else:
            plan = await plan_partitions(lister, query, parts=parts, since=since, until=until)
            partitions, expected_total = plan.partitions, plan.expected_total
            state = [
                {"index": i, "cursor": None, "done": False, "items": 0, "pages": 0}
                for i in range(len(partitions))
            ]
            _checkpoint.remove(checkpoint_file)  # --restart: the old one is void from now on
            output = DurableOutput.create(out, page_format.header())
            items_before = 0
        record = _checkpoint.Checkpoint(
            fingerprint=fingerprint,
            options=described,
            partitions=partitions_to_json(partitions),
            state=state,
            bytes_written=output.size,
            items_written=items_before,
            expected_total=expected_total,
        )
        _checkpoint.save(checkpoint_file, record)
        return cls(
            lister=lister,
            query=query,
            page_format=page_format,
            checkpoint_file=checkpoint_file,
            record=record,
            partitions=partitions,
            output=output,
            items_before=items_before,
            resumed=saved is not None,
            items=items_before,
        )

    @property
    def expected_total(self) -> int | None:
        """How many items the API reported when the export was planned."""
        return self.record.expected_total

    def _commit(self, chunk: bytes, state: list[dict[str, Any]], items: int) -> None:
        self.output.append(chunk)
        self.record.state = state
        self.record.bytes_written = self.output.size
        self.record.items_written = items
        _checkpoint.save(self.checkpoint_file, self.record)

    async def run(self, *, concurrency: int, progress: bool, label: str) -> None:
        """Stream every remaining page into the output, committing each one."""
        export = cwpro.AsyncExport(
            _paginator_factory(self.lister),
            [{**self.query, **part} for part in self.partitions],
            concurrency=concurrency,
            resume=self.record.state,
        )
        with item_progress(label, enabled=progress) as bar:
            bar.update(self.items, self.expected_total)
            async with closing(export.pages()) as pages:
                async for _, page in pages:
                    chunk = self.page_format.encode(page.items)
                    state = _checkpoint.settled_state(export.checkpoint())
                    items = self.items + len(page.items)
                    await finish_in_thread(functools.partial(self._commit, chunk, state, items))
                    self.items = items
                    bar.update(self.items, self.expected_total)

    def finish(self) -> None:
        """The export is complete: close the output and delete the checkpoint."""
        self.output.close()
        _checkpoint.remove(self.checkpoint_file)

    def close(self) -> None:
        """Close the output, keeping the checkpoint (the export can be resumed)."""
        self.output.close()


def _refuse_on_mismatch(saved: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    differences = [
        f"{key}: checkpoint {saved.get(key)!r}, now {current.get(key)!r}"
        for key in sorted(set(saved) | set(current))
        if saved.get(key) != current.get(key)
    ]
    raise ResumeRefused(
        "resume refused, the options differ from the interrupted export's ("
        + "; ".join(differences or ["fingerprint"])
        + "); run it with the same options, or use --restart"
    )
