"""The durable webhook inbox: what a store must do, and the records it hands back.

An inbox keeps every accepted notification until its handler has succeeded. Each event has one
row keyed by its id (the de-duplication key) and moves through these states:

``pending``  stored, waiting for its turn (or for its next retry time)
``running``  claimed by a worker; back to ``pending`` if that process dies (see ``recover``)
``done``     the handler returned
``dead``     the handler raised ``max_attempts`` times; kept with its last error

:class:`Inbox` is the protocol the :class:`~cwpro.webhooks.WebhookReceiver` drives;
:class:`~cwpro.webhooks.SQLiteInbox` and :class:`~cwpro.webhooks.PostgresInbox` implement it.
Every method raises :class:`~cwpro.webhooks.WebhookInboxError` when the store cannot be used.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeAlias, runtime_checkable

import attrs

from cwpro._errors import WebhookInboxError, WebhookPayloadError

if TYPE_CHECKING:
    from cwpro.webhooks import WebhookEvent

__all__ = ["Inbox", "InboxEntry", "InboxState", "decode_event", "encode_event", "error_text"]

#: The states of an inbox row.
InboxState: TypeAlias = Literal["pending", "running", "done", "dead"]

STATES: Final = ("pending", "running", "done", "dead")

#: The longest error text kept for a failed attempt.
MAX_ERROR_CHARS: Final = 2_000


@attrs.frozen
class InboxEntry:
    """One event in an inbox, as read back.

    Attributes:
        event: the notification.
        state: ``"pending"``, ``"running"``, ``"done"`` or ``"dead"``.
        attempts: handler calls started for it so far.
        received_at: when it was first stored (UTC).
        next_attempt_at: when it may run (again), for pending events (UTC).
        last_error: the last handler error (``"TypeName: message"``), or None.
    """

    event: WebhookEvent
    state: InboxState
    attempts: int
    received_at: _dt.datetime
    next_attempt_at: _dt.datetime | None = None
    last_error: str | None = None

    @property
    def id(self) -> str:
        """The event id."""
        return self.event.id


@runtime_checkable
class Inbox(Protocol):
    """A durable store of webhook events, shared by the receiver, backfills and tools.

    Times are seconds since the epoch (``time.time()``), so they survive restarts and can be
    compared across processes on synchronised clocks.
    """

    async def open(self) -> None:
        """Connect and create the schema if needed (idempotent).

        Raises:
            WebhookInboxError: the store cannot be used (the receiver still starts, answers
                503 and tries again on the next delivery).
        """
        ...

    async def close(self) -> None:
        """Release the connection (idempotent); ``open`` may be called again."""
        ...

    async def store(self, events: Sequence[WebhookEvent]) -> list[bool]:
        """Store events durably (committed and synced to disk when this returns).

        Returns:
            One flag per event: True if it was new, False if its id was already stored.
        """
        ...

    async def recover(self) -> int:
        """Put events claimed by a process that died back to ``pending``; returns how many."""
        ...

    async def claim(self, limit: int, *, received_before: float) -> list[InboxEntry]:
        """Take up to ``limit`` due pending events, oldest ``created_date`` first.

        Due means: past its retry time, and received at or before ``received_before`` - or
        created before such an event (so an ordering window releases older events first).
        Claimed events are ``running`` and their ``attempts`` is increased.
        """
        ...

    async def next_due(self, *, window: float = 0.0) -> float | None:
        """The earliest time a pending event becomes due: ``window`` seconds after it was
        received, and not before its retry time. None when nothing is pending."""
        ...

    async def complete(self, event_id: str) -> None:
        """Mark a claimed event ``done`` (its handler returned)."""
        ...

    async def fail(self, event_id: str, error: str, *, retry_at: float | None) -> None:
        """Record a failed attempt: back to ``pending`` until ``retry_at``, or ``dead`` if None."""
        ...

    async def release(self, event_ids: Sequence[str]) -> None:
        """Give claimed events back unhandled (``pending``, the attempt not counted)."""
        ...

    async def pending(self, limit: int | None = None) -> list[InboxEntry]:
        """Events not handled yet (``pending`` or ``running``), oldest ``created_date`` first."""
        ...

    async def dead(self, limit: int | None = None) -> list[InboxEntry]:
        """Events whose handler kept failing, oldest ``created_date`` first."""
        ...

    async def get(self, event_id: str) -> InboxEntry | None:
        """One event by id, or None."""
        ...

    async def replay(self, event_id: str) -> bool:
        """Make a ``dead`` or ``done`` event ``pending`` again with no attempts.

        Returns:
            False when the id is unknown or the event is already pending or running.
        """
        ...

    async def purge(self, older_than: _dt.timedelta, *, dead: bool = False) -> int:
        """Delete ``done`` events (and ``dead`` ones if ``dead``) last updated before
        ``older_than`` ago; returns how many. Keep ``older_than`` above CWP's redelivery span
        (about 2.5 hours) so a late duplicate is still recognised."""
        ...

    async def contains(self, event_id: str) -> bool:
        """True if the id is known (stored, or recorded by :meth:`mark_seen`)."""
        ...

    async def mark_seen(self, event_id: str) -> bool:
        """Record an id handled elsewhere (no body, ``done``); True if it was new."""
        ...

    async def forget(self, event_id: str) -> None:
        """Delete an id recorded by :meth:`mark_seen` (events with a body stay)."""
        ...


def encode_event(event: WebhookEvent) -> str:
    """The notification as JSON text, for storage."""
    return json.dumps(event.raw, default=_plain, separators=(",", ":"), ensure_ascii=False)


def _plain(value: object) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a webhook inbox")


def decode_event(text: str) -> WebhookEvent:
    """An event back from :func:`encode_event` text.

    Raises:
        WebhookInboxError: the stored text is not a notification any more.
    """
    from cwpro.webhooks import event_from_mapping

    try:
        return event_from_mapping(json.loads(text))
    except (ValueError, WebhookPayloadError) as exc:
        raise WebhookInboxError(f"a stored webhook event cannot be read: {exc}") from exc


def error_text(error: BaseException) -> str:
    """``"TypeName: message"``, cut to a bounded length."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def utc_from_epoch(seconds: float | None) -> _dt.datetime | None:
    """An aware UTC datetime from epoch seconds (None stays None)."""
    if seconds is None:
        return None
    return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)


def check_limit(limit: int | None) -> None:
    """Reject a limit that is not None or a positive int."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, not {limit!r}")


def check_older_than(older_than: _dt.timedelta) -> None:
    """Reject a purge age that is not a non-negative timedelta."""
    if not isinstance(older_than, _dt.timedelta) or older_than < _dt.timedelta(0):
        raise ValueError(f"older_than must be a timedelta >= 0, not {older_than!r}")
