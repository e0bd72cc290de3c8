"""Cursor windows fetched and written to Parquet files in a worker process, beside dlt's import.

``cwpro load`` spends its first second importing dlt and setting up the pipeline: Python work
that holds the interpreter lock, so a fetch in a thread of the same process gets only what is
left of one core. A worker *process* has a core of its own. :class:`FetchWorker` fetches the
windows a first run or a full refresh will read (``_prefetch`` decides which), joins their pages
into Arrow tables with the :class:`~cwpro.dlt._arrow.TableBuilder` the resources use, writes
them to Parquet files (``_spool``) in a folder of its own, and hands each finished file over
through one pipe per resource, at most ``ahead`` files held per resource. The loading process
has dlt import each file as it is: no work per row, and not even the tables' bytes, cross.

* ``cwpro load`` forks the worker where that is safe and worth it (:func:`worker_helps`:
  Linux, the loading process has one thread and may run on two cores or more); it can also be
  started fresh (``method="spawn"``, the tests).
* It ignores SIGINT: Ctrl-C interrupts the load, whose clean-up stops the worker.
* An error in the worker (the API's, a value that does not fit its column) is raised in the
  loading process as the same exception (cwpro's errors pickle; its traceback in the worker is
  logged at DEBUG on ``cwpro.dlt``).
* A worker that dies (killed, out of memory) is reported as a :class:`FetchWorkerDied`, never
  waited for; if the loading process dies, the worker sees its control pipe close, stops and
  removes its folder.
* A file received is the receiver's: it may move or delete it. :meth:`FetchWorker.cancel`
  stops one resource; :meth:`FetchWorker.close` stops and joins the worker and removes its
  folder with every file still in it.

This module imports no dlt.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final

import cwpro
from cwpro.pagination._closing import closing

from ._arrow import Regroup, TableBuilder, load_pyarrow
from ._fetch import DATE_FIELD, CursorWindow
from ._spool import FILE_ROWS, ParquetSpool, TableFile

__all__ = ["FetchWorker", "FetchWorkerDied", "TableStream", "fork_is_safe", "worker_helps"]

logger = logging.getLogger("cwpro.dlt")

#: Seconds :meth:`FetchWorker.close` waits for the worker to end after SIGTERM, then SIGKILL.
STOP_TIMEOUT: Final = 10.0
_FILE, _ERROR, _END = "file", "error", "end"


class FetchWorkerDied(RuntimeError):
    """The fetch worker process ended before it sent all of a resource's rows (a local
    failure, like a worker thread's crash: not an error of the API)."""


def fork_is_safe() -> bool:
    """Whether this process can be forked safely: Linux, and no thread but this one runs
    (counted by the kernel, so threads that native libraries started count too)."""
    if sys.platform != "linux":
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def worker_helps() -> bool:
    """Whether a forked worker would have a core of its own (this process may run on two or
    more) and can be forked safely (:func:`fork_is_safe`); on one core a thread does better."""
    return fork_is_safe() and len(os.sched_getaffinity(0)) >= 2


class TableStream:
    """The files of one resource's window, in order, as the worker sends them (iterate once).

    Leaving the iteration early (dlt failed, the generator was closed) cancels the resource
    in the worker."""

    def __init__(self, worker: FetchWorker, resource: str) -> None:
        self._worker = worker
        self.resource = resource

    def __iter__(self) -> Iterator[TableFile]:
        finished = False
        try:
            while True:
                kind, value = self._worker.receive(self.resource)
                if kind == _FILE:
                    yield value
                    continue
                finished = True
                if kind == _ERROR:
                    raise value
                return
        finally:
            if not finished:
                self.close()

    def close(self) -> None:
        """Cancel the resource in the worker (nothing more is received)."""
        self._worker.cancel(self.resource)


class FetchWorker:
    """One worker process fetching the windows of several resources (see the module)."""

    def __init__(
        self,
        windows: Mapping[str, tuple[CursorWindow, type[cwpro.Model]]],
        *,
        ahead: int,
        method: str = "fork",
        file_rows: int = FILE_ROWS,
    ) -> None:
        if ahead < 1:
            raise ValueError(f"ahead must be >= 1, got {ahead}")
        self.directory = tempfile.mkdtemp(prefix="cwpro-load-")
        context: Any = multiprocessing.get_context(method)  # typeshed: no Process on BaseContext
        pipes = {name: context.Pipe(duplex=False) for name in windows}
        control_end, self._control = context.Pipe(duplex=False)
        self._lock = threading.Lock()
        self._closed = False
        self._inputs: dict[str, Connection] = {name: ends[0] for name, ends in pipes.items()}
        outputs = {name: ends[1] for name, ends in pipes.items()}
        for stream in (sys.stdout, sys.stderr):  # a forked child must not write them again
            with contextlib.suppress(Exception):
                stream.flush()
        self._process: BaseProcess = context.Process(
            target=_serve,
            args=(
                dict(windows),
                outputs,
                ahead,
                self.directory,
                file_rows,
                control_end,
                [self._control, *self._inputs.values()],
            ),
            name="cwpro-dlt-fetch",
            daemon=True,
        )
        self._process.start()
        self._pid: int | None = self._process.pid
        for end in (*outputs.values(), control_end):  # the worker's ends: its copies only
            end.close()
        logger.debug(
            "fetching %s in worker process %s (%s)", ", ".join(windows), self._process.pid, method
        )

    @property
    def pid(self) -> int | None:
        """The worker's process id."""
        return self._pid

    def stream(self, resource: str) -> TableStream:
        """The files of ``resource``'s window."""
        if resource not in self._inputs:
            raise KeyError(resource)
        return TableStream(self, resource)

    def receive(self, resource: str) -> tuple[str, Any]:
        """The next message of ``resource``: a file, its error, or its end."""
        with self._lock:
            pipe = self._inputs.get(resource)
        if pipe is None:
            raise FetchWorkerDied(f"the fetch of {resource} was cancelled")
        try:
            message: tuple[str, Any] = pipe.recv()
        except (EOFError, OSError):
            self._process.join(1.0)
            raise FetchWorkerDied(
                f"the fetch worker process (pid {self._process.pid}) ended before it sent all "
                f"{resource} (exit code {self._process.exitcode})"
            ) from None
        return message

    def cancel(self, resource: str) -> None:
        """Stop fetching ``resource`` (what it has sent is dropped)."""
        with self._lock:
            pipe = self._inputs.pop(resource, None)
        if pipe is None:
            return
        pipe.close()  # a send blocked on a full pipe fails at once
        with contextlib.suppress(OSError):
            self._control.send(resource)

    def close(self) -> None:
        """Stop the worker (if it still runs), wait for it to end and remove its folder
        (idempotent)."""
        with self._lock:
            pipes, self._inputs = list(self._inputs.values()), {}
            closed, self._closed = self._closed, True
        if closed:
            return
        for pipe in pipes:
            pipe.close()
        self._control.close()  # the worker stops when it sees its control pipe close
        self._process.join(0.5)
        if self._process.exitcode is None:
            self._process.terminate()
            self._process.join(STOP_TIMEOUT)
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join()
        self._process.close()
        shutil.rmtree(self.directory, ignore_errors=True)


# -- in the worker process -------------------------------------------------------------------
def _serve(
    windows: dict[str, tuple[CursorWindow, type[cwpro.Model]]],
    outputs: dict[str, Connection],
    ahead: int,
    directory: str,
    file_rows: int,
    control: Connection,
    parent_ends: list[Connection],
) -> None:
    """The worker's main: every window fetched at once on one event loop."""
    for end in parent_ends:  # the loading process's ends: their closing must reach this process
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()  # what a fork inherited stays shared: collections no longer touch it
    files = {
        name: _Files(name, model, window, directory, file_rows)
        for name, (window, model) in windows.items()
    }
    if asyncio.run(_fetch_all(windows, outputs, ahead, files, control)):
        shutil.rmtree(directory, ignore_errors=True)  # the loading process is gone


async def _fetch_all(
    windows: dict[str, tuple[CursorWindow, type[cwpro.Model]]],
    outputs: dict[str, Connection],
    ahead: int,
    files: dict[str, _Files],
    control: Connection,
) -> bool:
    """Fetch every window; whether the loading process closed the control pipe (or died)."""
    loop = asyncio.get_running_loop()
    tasks = {
        name: asyncio.create_task(_fetch(window, outputs[name], ahead, files[name]))
        for name, (window, _) in windows.items()
    }

    cancelled: set[str] = set()
    parent_gone = False

    def on_control() -> None:
        nonlocal parent_gone
        try:
            names = [control.recv()]
        except (EOFError, OSError):  # the loading process closed or died: stop everything
            loop.remove_reader(control.fileno())
            names, parent_gone = list(tasks), True
        for name in (tasks.keys() & names) - cancelled:  # once: a second would cut its clean-up
            cancelled.add(name)
            tasks[name].cancel()

    loop.add_reader(control.fileno(), on_control)
    try:
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(control.fileno())
    return parent_gone


class _Files:
    """One resource's rows into Parquet files: its table builder and spool, made at its first
    rows (importing pyarrow then overlaps the wait for the first requests)."""

    def __init__(
        self,
        name: str,
        model: type[cwpro.Model],
        window: CursorWindow,
        directory: str,
        file_rows: int,
    ) -> None:
        self._name, self._model, self._directory = name, model, directory
        self._window, self._file_rows = (window.start, window.end), file_rows
        self._builder: TableBuilder | None = None
        self._spool: ParquetSpool | None = None

    def add(self, rows: list[dict[str, Any]]) -> list[TableFile]:
        """Write ``rows``; the files this completed."""
        if self._builder is None or self._spool is None:
            pyarrow = load_pyarrow()
            self._builder = TableBuilder(pyarrow, self._model, self._name)
            self._spool = ParquetSpool(
                pyarrow, self._directory, self._name, DATE_FIELD, self._window,
                file_rows=self._file_rows,
            )  # fmt: skip
        return self._spool.add(self._builder.batch(rows))

    def finish(self) -> list[TableFile]:
        """Complete the last file (if rows went into it)."""
        return [] if self._spool is None else self._spool.finish()

    def discard(self) -> None:
        """Remove the file being written."""
        if self._spool is not None:
            self._spool.discard()


async def _fetch(window: CursorWindow, output: Connection, ahead: int, files: _Files) -> None:
    """Fetch one window into files; a sender task writes them to ``output`` in order."""
    held: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(ahead)
    sender = asyncio.create_task(_send(held, output))
    try:
        groups = Regroup()
        async with closing(window.pages()) as pages:  # a cancel closes the client here
            async for page in pages:
                rows = groups.add(page)
                if rows is not None:
                    for done in files.add(rows):
                        await held.put((_FILE, done))
        rows = groups.rest()
        for done in (files.add(rows) if rows is not None else []) + files.finish():
            await held.put((_FILE, done))
        await held.put((_END, None))
    except asyncio.CancelledError:
        sender.cancel()
        files.discard()
        raise
    except Exception as exc:
        files.discard()
        await held.put((_ERROR, _portable(exc)))
    await sender


async def _send(held: asyncio.Queue[tuple[str, Any]], output: Connection) -> None:
    """Write the held messages to ``output`` (in a thread: a full pipe blocks it, not the loop)."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            message = await held.get()
            await loop.run_in_executor(None, output.send, message)
            if message[0] != _FILE:
                return
    except OSError:  # the loading process cancelled this resource or is gone
        return
    finally:
        output.close()


def _portable(exc: Exception) -> Exception:
    """``exc`` as it will cross the pipe: itself if it pickles back, else a RuntimeError
    naming it. Its traceback, which does not cross, is logged here."""
    logger.debug(
        "fetch worker (pid %s): %s",
        os.getpid(),
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip(),
    )
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, just made
    except Exception:
        return RuntimeError(f"in the fetch worker: {type(exc).__name__}: {exc}")
    return exc
