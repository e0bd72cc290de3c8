"""The emulator's data: seeded (lazy) work orders, sites, work types, notifications, documents.

Every store lists its rows in ``_id`` order (== creation order) and implements the
:class:`~cwpro.emulator.listing.ListSource` protocol used by the cursor lists.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwpro.emulator.generator import (
    WorkOrderGenerator,
    collection_tag,
    generate_sites,
    generate_work_types,
    recent_indices,
)
from cwpro.emulator.list_query import ColumnKind, RowKey, sort_key
from cwpro.emulator.wire import format_datetime, make_object_id, parse_datetime, to_epoch_ms

WORKORDER_COLUMNS: Mapping[str, ColumnKind] = {
    "_id": "string",
    "name": "string",
    "description": "string",
    "status": "string",
    "priority": "string",
    "site_id": "string",
    "work_type_ids": "list",
    "scheduled_date": "date",
    "created_date": "date",
    "updated_date": "date",
    "external_reference": "string",
}
SITE_COLUMNS: Mapping[str, ColumnKind] = {
    "_id": "string",
    "name": "string",
    "latitude": "number",
    "longitude": "number",
    "created_date": "date",
    "updated_date": "date",
    "site_code": "string",
    "external_reference": "string",
    "timezone": "string",
}
WORK_TYPE_COLUMNS: Mapping[str, ColumnKind] = {
    "_id": "string",
    "name": "string",
    "description": "string",
    "created_date": "date",
}
NOTIFICATION_COLUMNS: Mapping[str, ColumnKind] = {
    "_id": "string",
    "event": "string",
    "created_date": "date",
}
DOCUMENT_COLUMNS: Mapping[str, ColumnKind] = {
    "_id": "string",
    "file_name": "string",
    "content_type": "string",
    "size": "number",
    "sha256": "string",
    "created_date": "date",
}
NOTIFICATION_RETENTION = dt.timedelta(days=90)
#: Rendered seeded work orders kept (~2.2 KB each, so at most ~70 MB): a whole dataset of this
#: size is rendered once, not on every page (a walk of a larger one evicts first-in first-out).
RENDER_CACHE_SIZE = 32_768
DEFAULT_NOTIFICATIONS = 50


class IdAllocator:
    """Issues ids for newly created objects of one collection, always after every earlier id."""

    def __init__(self, tag: int, next_counter: int, last_seconds: int) -> None:
        self._tag = tag
        self._counter = next_counter
        self._last_seconds = last_seconds

    def allocate(self, now: dt.datetime) -> str:
        """A new id whose timestamp is ``now`` (or the last one issued, if later)."""
        seconds = max(to_epoch_ms(now) // 1000, self._last_seconds)
        self._last_seconds = seconds
        object_id = make_object_id(seconds, self._tag, self._counter)
        self._counter += 1
        return object_id


class _IdOrderView:
    """All rows of a store, by ``_id``."""

    def __init__(self, store: WorkOrderStore | RecordStore) -> None:
        self._store = store

    def __len__(self) -> int:
        return self._store.size()

    def key_at(self, position: int) -> RowKey:
        object_id = self._store.id_at(position)
        return (sort_key(object_id), object_id)

    def item_at(self, position: int) -> dict[str, Any]:
        return self._store.item_at(position)


class RecordStore:
    """A fully materialized collection (sites, work types, notifications, documents)."""

    def __init__(
        self,
        columns: Mapping[str, ColumnKind],
        items: Sequence[dict[str, Any]] = (),
        *,
        cacheable: bool = True,
    ) -> None:
        self.columns = columns
        self._items: list[dict[str, Any]] = list(items)
        self._positions = {str(item["_id"]): p for p, item in enumerate(self._items)}
        self._version = 0
        self._cacheable = cacheable

    @property
    def version(self) -> int | None:
        """Bumped on every change; None for throwaway stores whose selections must not be
        cached."""
        return self._version if self._cacheable else None

    def size(self) -> int:
        """Number of rows."""
        return len(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._items))

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._positions

    def id_at(self, position: int) -> str:
        """The ``_id`` at ``position``."""
        return str(self._items[position]["_id"])

    def ids(self) -> list[str]:
        """Every ``_id``, in order."""
        return [str(item["_id"]) for item in self._items]

    def item_at(self, position: int) -> dict[str, Any]:
        """The row at ``position``."""
        return self._items[position]

    def get(self, object_id: str) -> dict[str, Any] | None:
        """The row with ``object_id``, or None."""
        position = self._positions.get(object_id)
        return None if position is None else self._items[position]

    def column(self, name: str) -> list[Any]:
        """Column ``name`` of every row."""
        return [item.get(name) for item in self._items]

    def id_view(self) -> _IdOrderView:
        """Every row by ``_id``."""
        return _IdOrderView(self)

    def append(self, item: dict[str, Any]) -> dict[str, Any]:
        """Add a row whose ``_id`` sorts after every existing one."""
        self._positions[str(item["_id"])] = len(self._items)
        self._items.append(item)
        self._version += 1
        return item


class WorkOrderStore:
    """Work orders: seeded ones rendered from their index, changed/created ones stored."""

    columns = WORKORDER_COLUMNS

    def __init__(self, generator: WorkOrderGenerator) -> None:
        self.generator = generator
        self._seeded = generator.count
        self._overrides: dict[int, dict[str, Any]] = {}
        self._created: list[dict[str, Any]] = []
        self._created_positions: dict[str, int] = {}
        self._column_cache: dict[str, list[Any]] = {}
        self._rendered: OrderedDict[int, dict[str, Any]] = OrderedDict()  # O(1) eviction
        self._version = 0
        last_seconds = generator.created_ms(self._seeded - 1) // 1000 if self._seeded else 0
        self._ids = IdAllocator(generator.tag, self._seeded, last_seconds)

    @property
    def version(self) -> int | None:
        """Bumped on every create/update."""
        return self._version

    def size(self) -> int:
        """Number of work orders (seeded + created)."""
        return self._seeded + len(self._created)

    def __len__(self) -> int:
        return self.size()

    def __contains__(self, object_id: object) -> bool:
        return isinstance(object_id, str) and self.position_of(object_id) is not None

    def position_of(self, object_id: str) -> int | None:
        """The position of ``object_id`` in ``_id`` order, or None when unknown."""
        index = self.generator.index_of(object_id)
        if index is not None:
            return index
        created = self._created_positions.get(object_id)
        return None if created is None else self._seeded + created

    def id_at(self, position: int) -> str:
        """The ``_id`` at ``position``."""
        if position < self._seeded:
            return self.generator.object_id(position)
        return str(self._created[position - self._seeded]["_id"])

    def ids(self) -> Iterator[str]:
        """Every ``_id`` in order (lazily)."""
        return (self.id_at(p) for p in range(self.size()))

    def item_at(self, position: int) -> dict[str, Any]:
        """The work order at ``position`` (treat as read-only)."""
        if position >= self._seeded:
            return self._created[position - self._seeded]
        override = self._overrides.get(position)
        if override is not None:
            return override
        rendered = self._rendered.get(position)
        if rendered is None:
            if len(self._rendered) >= RENDER_CACHE_SIZE:  # evict the oldest entry
                self._rendered.popitem(last=False)
            rendered = self._rendered[position] = self.generator.render(position)
        return rendered

    def get(self, object_id: str) -> dict[str, Any] | None:
        """The work order ``object_id`` (treat as read-only), or None."""
        position = self.position_of(object_id)
        return None if position is None else self.item_at(position)

    def column(self, name: str) -> Sequence[Any]:
        """Column ``name`` of every work order (seeded part computed once and cached)."""
        seeded = self._column_cache.get(name)
        if seeded is None:
            seeded = [self.generator.column(name, i) for i in range(self._seeded)]
            self._column_cache[name] = seeded
        if not self._overrides and not self._created:
            return seeded
        values = list(seeded)
        for position, item in self._overrides.items():
            values[position] = item.get(name)
        values.extend(item.get(name) for item in self._created)
        return values

    def id_view(self) -> _IdOrderView:
        """Every work order by ``_id`` (O(1) to build, O(log n) to seek)."""
        return _IdOrderView(self)

    def create(self, fields: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        """Store a new work order made of ``fields`` and return it."""
        stamp = format_datetime(now)
        item = {
            "_id": self._ids.allocate(now),
            **fields,
            "created_date": stamp,
            "updated_date": stamp,
        }
        self._created_positions[item["_id"]] = len(self._created)
        self._created.append(item)
        self._version += 1
        return item

    def update(
        self, object_id: str, fields: dict[str, Any], now: dt.datetime
    ) -> dict[str, Any] | None:
        """Apply ``fields`` to work order ``object_id``; None when it does not exist."""
        position = self.position_of(object_id)
        if position is None:
            return None
        updated = {
            **copy.deepcopy(self.item_at(position)),
            **fields,
            "updated_date": format_datetime(now),
        }
        if position < self._seeded:
            self._overrides[position] = updated
        else:
            self._created[position - self._seeded] = updated
        self._version += 1
        return updated


@dataclass(frozen=True)
class StoredDocument:
    """An uploaded document: its metadata (the API object) and where its bytes are."""

    meta: dict[str, Any]
    path: Path

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content."""
        return str(self.meta["sha256"])

    @property
    def size(self) -> int:
        """Content length in bytes."""
        return int(self.meta["size"])

    @property
    def object_id(self) -> str:
        """The document ``_id``."""
        return str(self.meta["_id"])


class DocumentStore:
    """Uploaded documents, in upload order."""

    def __init__(self, tag: int) -> None:
        self._documents: list[StoredDocument] = []
        self._by_id: dict[str, StoredDocument] = {}
        self._ids = IdAllocator(tag, 0, 0)

    def __len__(self) -> int:
        return len(self._documents)

    def __iter__(self) -> Iterator[StoredDocument]:
        return iter(list(self._documents))

    def __getitem__(self, index: int) -> StoredDocument:
        return self._documents[index]

    def new_id(self, now: dt.datetime) -> str:
        """Reserve the ``_id`` of the next document."""
        return self._ids.allocate(now)

    def add(self, document: StoredDocument) -> StoredDocument:
        """Remember an uploaded document."""
        self._documents.append(document)
        self._by_id[document.object_id] = document
        return document

    def get(self, object_id: str) -> StoredDocument | None:
        """The document with ``object_id``, or None."""
        return self._by_id.get(object_id)

    def listing(self, work_order_id: str, resource_name: str) -> RecordStore:
        """The documents of one work order resource, as a (throwaway) listable store."""
        return RecordStore(
            DOCUMENT_COLUMNS,
            [
                d.meta
                for d in self._documents
                if d.meta["work_order_id"] == work_order_id
                and d.meta["resource_name"] == resource_name
            ],
            cacheable=False,
        )


class NotificationStore(RecordStore):
    """Webhook notification records: a seeded history plus every recorded event."""

    def __init__(self, tag: int, history: Sequence[dict[str, Any]]) -> None:
        super().__init__(NOTIFICATION_COLUMNS, history)
        last_seconds = int(history[-1]["_id"][:8], 16) if history else 0
        self._ids = IdAllocator(tag, len(history), last_seconds)

    @property
    def version(self) -> int | None:
        """Never cached: the 90-day window moves with the clock."""
        return None

    def record(self, event: str, data: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
        """Store a notification of ``event`` about ``data`` (a snapshot) and return it."""
        return self.append(
            {
                "_id": self._ids.allocate(now),
                "event": event,
                "created_date": format_datetime(now),
                "data": copy.deepcopy(data),
            }
        )

    @staticmethod
    def cutoff(now: dt.datetime) -> str:
        """Notifications created before this wire datetime are no longer served."""
        return format_datetime(now - NOTIFICATION_RETENTION)

    def visible(self, object_id: str, now: dt.datetime) -> dict[str, Any] | None:
        """The notification ``object_id`` if it exists and is within the 90-day window."""
        record = self.get(object_id)
        if record is None or record["created_date"] < self.cutoff(now):
            return None
        return record


def _seed_notifications(
    seed: int, wanted: int, work_orders: WorkOrderStore, sites: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The seeded history: recent sites and an even sample of recent work orders (some older
    than 90 days, most within), each with its creation event."""
    site_share = [sites[i] for i in recent_indices(len(sites))][: wanted // 5]
    recent_wo = recent_indices(work_orders.generator.count)
    wo_wanted = min(wanted - len(site_share), len(recent_wo))
    picked: list[tuple[str, dict[str, Any]]] = [("SITE.CREATE", site) for site in site_share]
    if wo_wanted > 0:
        stride = len(recent_wo) / wo_wanted
        for slot in range(wo_wanted):
            index = recent_wo.start + int(slot * stride)
            picked.append(("WORKORDER.CREATE", work_orders.generator.render(index)))
    picked.sort(key=lambda pair: (str(pair[1]["created_date"]), str(pair[1]["_id"])))
    tag = collection_tag(seed, "notifications")
    history = []
    for counter, (event, data) in enumerate(picked):
        created = parse_datetime(str(data["created_date"])) + dt.timedelta(milliseconds=250)
        history.append(
            {
                "_id": make_object_id(to_epoch_ms(created) // 1000, tag, counter),
                "event": event,
                "created_date": format_datetime(created),
                "data": data,
            }
        )
    return history


class EmulatorState:
    """Every dataset of one emulator, deterministic from ``seed`` and the dataset ``anchor``."""

    def __init__(
        self,
        *,
        seed: int,
        anchor: dt.datetime,
        workorders: int,
        sites: int,
        work_types: int,
        notifications: int | None,
    ) -> None:
        self.seed = seed
        self.anchor = anchor
        site_items = generate_sites(seed, sites, anchor)
        type_items = generate_work_types(seed, work_types, anchor)
        self.sites = RecordStore(SITE_COLUMNS, site_items)
        self.work_types = RecordStore(WORK_TYPE_COLUMNS, type_items)
        self.workorders = WorkOrderStore(
            WorkOrderGenerator(
                seed=seed, count=workorders, anchor=anchor, sites=site_items, work_types=type_items
            )
        )
        history_size = DEFAULT_NOTIFICATIONS if notifications is None else notifications
        self.notifications = NotificationStore(
            collection_tag(seed, "notifications"),
            _seed_notifications(seed, history_size, self.workorders, site_items),
        )
        self.documents = DocumentStore(collection_tag(seed, "documents"))
        last_site_seconds = int(site_items[-1]["_id"][:8], 16) if site_items else 0
        self.site_ids_allocator = IdAllocator(
            collection_tag(seed, "sites"), sites, last_site_seconds
        )

    # -- conveniences for tests -------------------------------------------------------------
    def workorder_ids(self) -> Iterator[str]:
        """Every work order id in ``_id`` order (lazy: fine for a million)."""
        return self.workorders.ids()

    def workorder(self, object_id: str) -> dict[str, Any] | None:
        """A copy of work order ``object_id`` as the API would return it, or None."""
        item = self.workorders.get(object_id)
        return None if item is None else copy.deepcopy(item)

    def workorder_count(self) -> int:
        """How many work orders exist."""
        return self.workorders.size()

    def site_ids(self) -> list[str]:
        """Every site id in order."""
        return self.sites.ids()

    def work_type_ids(self) -> list[str]:
        """Every work type id in order."""
        return self.work_types.ids()

    def notification_ids(self) -> list[str]:
        """Every notification id in order (including ones older than 90 days)."""
        return self.notifications.ids()

    def first_workorder_ids(self, limit: int) -> list[str]:
        """The ``limit`` oldest work order ids."""
        return list(itertools.islice(self.workorders.ids(), limit))
