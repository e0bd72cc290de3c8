"""Receiving CWP webhook notifications.

CWP POSTs ``{"id", "event", "created_date", "data"}`` to your listener from two addresses, may
deliver an event more than once or out of order, and retries (n*10 minutes, 5 times) unless it
gets ``200 OK`` quickly. This package covers each of those points:

* :func:`parse_event` / :func:`event_from_mapping` - typed events (:class:`WorkOrderCreated`,
  :class:`SiteCreated`, :class:`GenericEvent`); every bad payload is a
  :class:`~cwpro.WebhookPayloadError`.
* :func:`is_allowed_sender`, :func:`verify_basic_auth`, :func:`client_ip` - sender checks.
* :class:`SeenStore` / :class:`InMemorySeenStore` - de-duplication.
* :class:`OrderingBuffer` - ``created_date`` order.
* :class:`WebhookReceiver` - an aiohttp endpoint putting it all together.
* :class:`SQLiteInbox` / :class:`PostgresInbox` (the :class:`Inbox` protocol) - the durable
  mode: an event is on disk before the 200, handlers run from the inbox with retries, failed
  events are kept as dead for :meth:`Inbox.replay`, and duplicates are recognised across
  restarts (``WebhookReceiver(handle, inbox="events.db")``).
* :func:`backfill` - hand missed events fetched from the API to the same handler, once.

Example::

    async def handle(event: WebhookEvent) -> None:
        if isinstance(event, WorkOrderCreated):
            print(event.work_order.name)

    receiver = WebhookReceiver(handle, basic_auth=("cwp", "s3cret"))
    async with receiver.serve(host="0.0.0.0", port=8080) as url:
        ...
"""

from cwpro._errors import WebhookError, WebhookInboxError, WebhookPayloadError
from cwpro.webhooks._backfill import BackfillResult, backfill
from cwpro.webhooks._dedupe import InMemorySeenStore, SeenStore
from cwpro.webhooks._dispatch import InboxSeenStore
from cwpro.webhooks._events import (
    EVENT_TYPES,
    GenericEvent,
    SiteCreated,
    WebhookEvent,
    WorkOrderCreated,
    event_from_mapping,
    parse_event,
)
from cwpro.webhooks._inbox import Inbox, InboxEntry, InboxState
from cwpro.webhooks._ordering import OrderingBuffer
from cwpro.webhooks._postgres_inbox import PostgresInbox
from cwpro.webhooks._receiver import FailedEvent, ReceiverStats, WebhookHandler, WebhookReceiver
from cwpro.webhooks._security import (
    CWP_SENDER_IPS,
    client_ip,
    is_allowed_sender,
    verify_basic_auth,
)
from cwpro.webhooks._server import ServerLimits
from cwpro.webhooks._sqlite_inbox import SQLiteInbox

__all__ = [
    "CWP_SENDER_IPS",
    "EVENT_TYPES",
    "BackfillResult",
    "FailedEvent",
    "GenericEvent",
    "InMemorySeenStore",
    "Inbox",
    "InboxEntry",
    "InboxSeenStore",
    "InboxState",
    "OrderingBuffer",
    "PostgresInbox",
    "ReceiverStats",
    "SQLiteInbox",
    "SeenStore",
    "ServerLimits",
    "SiteCreated",
    "WebhookError",
    "WebhookEvent",
    "WebhookHandler",
    "WebhookInboxError",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WorkOrderCreated",
    "backfill",
    "client_ip",
    "event_from_mapping",
    "is_allowed_sender",
    "parse_event",
    "verify_basic_auth",
]
