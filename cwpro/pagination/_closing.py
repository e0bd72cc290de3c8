"""Closing an async iterator (a walk's generator) however the block using it ends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

__all__ = ["closing"]

T = TypeVar("T")


@contextlib.asynccontextmanager
async def closing(iterator: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Close an async generator when the block ends, even after ``break`` or an error.

    (A generator left open is only finalized by the garbage collector, later, in another task;
    closing it here cancels its in-flight requests at once.) Iterators without ``aclose`` are
    left as they are.
    """
    try:
        yield iterator
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
