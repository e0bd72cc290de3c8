"""A live progress bar on stderr (rich) when it is a terminal, else nothing at all (rich is
imported only for a bar: ``--no-progress`` and pipes do without it)."""

from __future__ import annotations

import sys
from typing import Protocol


class ItemProgress(Protocol):
    """Counts items towards a total that may be unknown or grow."""

    def __enter__(self) -> ItemProgress: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def update(self, done: int, total: int | None) -> None:
        """Show ``done`` items out of ``total``."""


class NoProgress:
    """Shows nothing (stderr is not a terminal, or ``--no-progress``)."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def update(self, done: int, total: int | None) -> None:
        """Do nothing."""


def item_progress(description: str, *, enabled: bool) -> ItemProgress:
    """A rich bar on stderr if ``enabled`` and stderr is a terminal, else :class:`NoProgress`."""
    if enabled and sys.stderr.isatty():
        from rich.console import Console

        from ._rich_bar import RichProgress

        return RichProgress(description, Console(stderr=True))
    return NoProgress()
