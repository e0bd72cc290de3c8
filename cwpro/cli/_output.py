"""The export's output file, appended page by page and made durable before each checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from ._common import ResumeRefused


class DurableOutput:
    """A binary file that is only ever appended to, with an fsync after each append.

    :meth:`create` starts a new file (truncating any old one) with ``header``;
    :meth:`reopen` continues a file whose first ``good_bytes`` are known good, cutting off
    whatever a crash left after them. :attr:`size` is the number of bytes on disk.
    """

    def __init__(self, path: Path, handle: BinaryIO, size: int) -> None:
        self.path = path
        self._handle = handle
        self.size = size

    @classmethod
    def create(cls, path: Path, header: bytes) -> DurableOutput:
        """A new, empty file holding ``header`` (fsynced)."""
        handle = path.open("wb")
        output = cls(path, handle, 0)
        output.append(header)
        return output

    @classmethod
    def reopen(cls, path: Path, good_bytes: int) -> DurableOutput:
        """The existing file cut back to its first ``good_bytes`` bytes."""
        try:
            handle = path.open("r+b")
        except FileNotFoundError:
            raise ResumeRefused(f"cannot resume: the output {path} is gone") from None
        size = os.fstat(handle.fileno()).st_size
        if size < good_bytes:
            handle.close()
            raise ResumeRefused(
                f"cannot resume: {path} holds {size} bytes but the checkpoint vouches for "
                f"{good_bytes}; was it changed or replaced?"
            )
        handle.truncate(good_bytes)
        handle.seek(good_bytes)
        os.fsync(handle.fileno())
        return cls(path, handle, good_bytes)

    def append(self, chunk: bytes) -> None:
        """Write ``chunk`` at the end and wait until it is on disk."""
        if chunk:
            self._handle.write(chunk)
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self.size += len(chunk)

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._handle.close()

    def __enter__(self) -> DurableOutput:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
