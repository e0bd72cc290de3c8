"""One run of ``cwpro export``: start or resume, stream pages, commit each page durably.

A page is committed in this order, in a worker thread (so fetching goes on meanwhile): append
its bytes to the output, fsync the output, then atomically replace the checkpoint with the
export's state *as of that page*. The next page is taken only once the commit is complete, so
the checkpoint never runs ahead of the file; a crash leaves at most one committed-but-unrecorded
page at the end of the file, which a resume cuts off and fetches again.

The pages come from ``resource.export(..., as_dict=True)``: the SDK's own partitioned export
(checkpoints included: :mod:`cwpro.pagination.checkpoint`) in its dict mode.
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
from ._partitions import partitions_from_json, partitions_to_json, plan_partitions
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


@attrs.define
class ExportJob:
    """Everything one export run needs; :meth:`run` streams the pages to :attr:`output`."""

    resource: Any  # a cursor-list resource: ``.list()`` and ``.export()``
    query: dict[str, Any]
    page_format: PageFormat
    checkpoint_file: Path
    record: _checkpoint.Checkpoint
    partitions: list[dict[str, Any]]
    output: DurableOutput
    items_before: int
    resumed: bool
    tail: bytes
    items: int = 0

    @classmethod
    async def start(
        cls,
        *,
        resource: Any,
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
                _export_of(resource, partitions, query, 1, saved.state)  # validates the state
            except ValueError as exc:
                raise ResumeRefused(
                    f"cannot resume from {checkpoint_file}: {exc}; run the export again with "
                    "--restart to start over"
                ) from None
            state = saved.state
            expected_total = saved.expected_total
            _checkpoint.check_output(out, saved, checkpoint_file)
            output = DurableOutput.reopen(out, saved.bytes_written)
            tail = _checkpoint.read_tail(out, saved.bytes_written)
            items_before = saved.items_written
        else:
            plan = await plan_partitions(
                resource.list, query, parts=parts, since=since, until=until
            )
            partitions, expected_total = plan.partitions, plan.expected_total
            state = _export_of(resource, partitions, query, 1, None).checkpoint()
            _checkpoint.remove(checkpoint_file)  # --restart: the old one is void from now on
            header = page_format.header()
            output = DurableOutput.create(out, header)
            tail = header[-_checkpoint.TAIL_BLOCK :]
            items_before = 0
        record = _checkpoint.Checkpoint(
            fingerprint=fingerprint,
            options=described,
            partitions=partitions_to_json(partitions),
            state=state,
            bytes_written=output.size,
            items_written=items_before,
            tail_digest=_checkpoint.digest(tail),
            expected_total=expected_total,
        )
        _checkpoint.save(checkpoint_file, record)
        return cls(
            resource=resource,
            query=query,
            page_format=page_format,
            checkpoint_file=checkpoint_file,
            record=record,
            partitions=partitions,
            output=output,
            items_before=items_before,
            resumed=saved is not None,
            tail=tail,
            items=items_before,
        )

    @property
    def expected_total(self) -> int | None:
        """How many items the API reported when the export was planned."""
        return self.record.expected_total

    def _commit(self, chunk: bytes, state: list[dict[str, Any]], items: int) -> None:
        self.output.append(chunk)
        self.tail = (self.tail + chunk)[-_checkpoint.TAIL_BLOCK :]
        self.record.state = state
        self.record.bytes_written = self.output.size
        self.record.items_written = items
        self.record.tail_digest = _checkpoint.digest(self.tail)
        _checkpoint.save(self.checkpoint_file, self.record)
        self.items = items  # durable now (also when Ctrl-C arrived during this commit)

    async def run(self, *, concurrency: int, progress: bool, label: str) -> None:
        """Stream every remaining page into the output, committing each one."""
        export = _export_of(
            self.resource, self.partitions, self.query, concurrency, self.record.state
        )
        with item_progress(label, enabled=progress) as bar:
            bar.update(self.items, self.expected_total)
            async with closing(export.pages()) as pages:
                async for _, page in pages:
                    chunk = self.page_format.encode(page.items)
                    state = export.checkpoint()
                    items = self.items + len(page.items)
                    await finish_in_thread(functools.partial(self._commit, chunk, state, items))
                    bar.update(self.items, self.expected_total)

    def finish(self) -> None:
        """The export is complete: close the output and delete the checkpoint."""
        self.output.close()
        _checkpoint.remove(self.checkpoint_file)

    def close(self) -> None:
        """Close the output, keeping the checkpoint (the export can be resumed)."""
        self.output.close()


def _export_of(
    resource: Any,
    partitions: list[dict[str, Any]],
    query: dict[str, Any],
    concurrency: int,
    state: list[dict[str, Any]] | None,
) -> cwpro.AsyncExport[dict[str, Any]]:
    export: cwpro.AsyncExport[dict[str, Any]] = resource.export(
        partitions, concurrency=concurrency, resume=state, as_dict=True, **query
    )
    return export


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
