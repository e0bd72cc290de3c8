"""Logging switches: ``CWPRO_LOG=debug|info`` and the CLI's ``-v``.

The SDK logs through the standard library under the ``cwpro`` logger and, like any library,
adds no handler of its own. The one exception is an explicit request: ``CWPRO_LOG=debug`` (or
``info``, ``warning``, ``error``) in the environment when ``cwpro`` is imported, or ``-v`` on
the command line, attaches one stderr handler to the ``cwpro`` logger at that level. Calling
:func:`enable_stderr_logging` again only changes the level (never a second handler). Log
records never carry secrets: the transport redacts them before anything is logged.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Final

__all__ = ["ENV_LOG", "LEVELS", "configure_from_env", "enable_stderr_logging"]

#: The environment variable read on import.
ENV_LOG: Final = "CWPRO_LOG"
#: Accepted values of ``CWPRO_LOG`` (case-insensitive).
LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MARK: Final = "_cwpro_stderr_handler"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler bound to the current ``sys.stderr`` at each record."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def enable_stderr_logging(level: int) -> logging.Handler:
    """Send the ``cwpro`` logger's records of ``level`` and above to stderr; returns the handler.

    Idempotent: the handler is added once and later calls only set the level. The handler
    writes to whatever ``sys.stderr`` is when a record is emitted (so a replaced stderr, as in
    test runners and notebooks, is honoured).
    """
    logger = logging.getLogger("cwpro")
    handler = next((h for h in logger.handlers if getattr(h, _MARK, False)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        setattr(handler, _MARK, True)
        logger.addHandler(handler)
    handler.setLevel(level)
    logger.setLevel(level)
    return handler


def configure_from_env(environ: dict[str, str] | None = None) -> int | None:
    """Apply ``CWPRO_LOG`` if it is set; returns the level applied (None when unset).

    An unknown value is ignored with a :class:`RuntimeWarning` naming the accepted ones (an
    import must not fail because of a typo in a logging switch).
    """
    env = os.environ if environ is None else environ
    value = env.get(ENV_LOG, "").strip().lower()
    if not value:
        return None
    level = LEVELS.get(value)
    if level is None:
        warnings.warn(
            f"{ENV_LOG}={value!r} is not one of {', '.join(LEVELS)}; ignored",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    enable_stderr_logging(level)
    return level
