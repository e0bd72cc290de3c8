"""The in-memory portal-link store, indexed by `_id` and by `link_token`."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import ipaddress
import logging
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from cwpro.emulator.portal_links.query import DEFAULT_SORT, LinkQuery, sort_key
from cwpro.emulator.portal_links.schema import (
    NESTED_SCHEMAS,
    Document,
    defaults,
    jsonable,
    to_millis,
)
from cwpro.emulator.portal_links.seed import seeded_documents

_LOG = logging.getLogger("cwpro.emulator.portal_links")

PORTAL_PATH: Final = "/portal"
TOKEN_PREFIX: Final = "wpl_"
ACCESS_LOG_LIMIT: Final = 100
DEFAULT_CREATED_BY: Final = "api"
_SELECTION_CACHE_SIZE: Final = 32


@dataclasses.dataclass(frozen=True)
class LinkPage:
    """One page of links as rendered on the wire, plus the numbers of the `paging` object."""

    items: list[Document]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """Number of pages the filtered links fill (0 when there is none)."""
        return math.ceil(self.total / self.per_page)

    def paging(self) -> dict[str, int]:
        """The `paging` object of the list response."""
        return {
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
            "pages": self.pages,
        }


def _address_allowed(ip_address: str, allowed: Iterable[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allowed)


class PortalLinkStore:
    """In-memory workorder portal links, indexed by `_id` and by `link_token`.

    Methods taking a link id accept any case and return None when the id is unknown; returned
    links are fresh JSON-ready dicts as the API renders them (`full_url` uses `base_url()` of the
    moment). Fields given to `create`/`update` must already be validated (see `schema.py`).
    """

    def __init__(
        self,
        *,
        rng: random.Random,
        clock: Callable[[], datetime.datetime],
        base_url: Callable[[], str],
        workorder_exists: Callable[[str], bool],
    ) -> None:
        """Keep the collaborators; ids, tokens and seeded data all come from `rng`."""
        self._rng = rng
        self._clock = clock
        self._base_url = base_url
        self._workorder_exists = workorder_exists
        self._links: dict[str, Document] = {}
        self._id_by_token: dict[str, str] = {}
        self._visitors: dict[str, set[str]] = {}
        self._id_middle = f"{rng.getrandbits(40):010x}"
        self._id_counter = 0
        # Sorted selections per query (paging aside), valid while nothing changes: a client
        # fetching every page concurrently must not make the server re-sort per page.
        self._version = 0
        self._selections: dict[LinkQuery, list[Document]] = {}
        self._selections_version = 0
        self._rendered: dict[str, Document] = {}  # list pages only; same lifetime as above
        self._rendered_base_url = ""

    def __len__(self) -> int:
        """Number of stored links."""
        return len(self._links)

    def workorder_exists(self, workorder_id: str) -> bool:
        """Whether the emulator knows this workorder (asks the callable given at construction)."""
        return self._workorder_exists(workorder_id)

    def get(self, link_id: str) -> Document | None:
        """The link with this `_id`, rendered, or None."""
        document = self._links.get(link_id.lower())
        return None if document is None else self._render(document)

    def by_token(self, token: str) -> Document | None:
        """The link owning this token (whatever its state), rendered, or None."""
        link_id = self._id_by_token.get(token)
        return None if link_id is None else self.get(link_id)

    def clear(self) -> None:
        """Forget every link."""
        self._changed()
        self._links.clear()
        self._id_by_token.clear()
        self._visitors.clear()

    def list_links(self, query: LinkQuery) -> LinkPage:
        """Filter, sort and cut one page out of the stored links."""
        selected = self._selection(query)
        start = (query.page - 1) * query.per_page
        base_url = self._base_url()
        if base_url != self._rendered_base_url:
            self._rendered.clear()
            self._rendered_base_url = base_url
        items = []
        for document in selected[start : start + query.per_page]:
            rendered = self._rendered.get(document["_id"])
            if rendered is None:
                rendered = self._rendered[document["_id"]] = self._render(document)
            items.append(rendered)
        return LinkPage(items=items, total=len(selected), page=query.page, per_page=query.per_page)

    def create(
        self, fields: Mapping[str, Any], *, created_by: str = DEFAULT_CREATED_BY
    ) -> Document:
        """Store a new link for `fields["workorder"]` with defaults for whatever is not given."""
        document = self._new_document(fields["workorder"], self._now(), created_by)
        self._apply(document, fields)
        self._insert(document)
        _LOG.debug(
            "created portal link %s for workorder %s", document["_id"], document["workorder"]
        )
        return self._render(document)

    def update(self, link_id: str, changes: Mapping[str, Any]) -> Document | None:
        """Apply validated changes (nested objects merged; `workorder` never changes)."""
        document = self._links.get(link_id.lower())
        if document is None:
            return None
        self._apply(document, {key: value for key, value in changes.items() if key != "workorder"})
        return self._touched(document)

    def delete(self, link_id: str) -> Document | None:
        """Remove a link (its token stops resolving); return it as it was."""
        document = self._links.pop(link_id.lower(), None)
        if document is None:
            return None
        self._changed()
        del self._id_by_token[document["link_token"]]
        del self._visitors[document["_id"]]
        _LOG.debug("deleted portal link %s", document["_id"])
        return self._render(document)

    def regenerate_token(self, link_id: str) -> Document | None:
        """Give a link a fresh token (and so a fresh `full_url`); the old token stops resolving."""
        document = self._links.get(link_id.lower())
        if document is None:
            return None
        del self._id_by_token[document["link_token"]]
        document["link_token"] = self._new_token()
        self._id_by_token[document["link_token"]] = document["_id"]
        return self._touched(document)

    def set_active(self, link_id: str, active: bool) -> Document | None:
        """Activate or deactivate a link."""
        document = self._links.get(link_id.lower())
        if document is None:
            return None
        document["is_active"] = active
        return self._touched(document)

    def record_view(self, token: str, *, ip_address: str, user_agent: str) -> Document | None:
        """Open the portal page of a token: count the view and return `{_id, workorder,
        link_type}`, or None when the token is unknown, inactive, expired, used up or the
        caller's address is not allowed."""
        link_id = self._id_by_token.get(token)
        document = None if link_id is None else self._links[link_id]
        now = self._now()
        if document is None or not self._usable(document, ip_address, now):
            return None
        self._changed()
        stats = document["usage_stats"]
        visitors = self._visitors[document["_id"]]
        visitors.add(ip_address)
        stats["total_views"] += 1
        stats["unique_visitors"] = len(visitors)
        stats["last_accessed"] = now
        entry = {"timestamp": now, "ip_address": ip_address, "user_agent": user_agent}
        stats["access_log"].append({**entry, "action": "view"})
        del stats["access_log"][:-ACCESS_LOG_LIMIT]
        return {key: document[key] for key in ("_id", "workorder", "link_type")}

    def seed(self, count: int, workorder_ids: Sequence[str]) -> None:
        """Add `count` varied links spread over the last 180 days for the given workorders
        (see `seed.py`); raises ``ValueError`` on a negative count or no workorders."""
        documents = seeded_documents(
            self._rng, count, workorder_ids, self._now(), self._new_document
        )
        for document in documents:
            self._insert(document)
        _LOG.debug("seeded %d portal links", count)

    # ----------------------------------------------------------------------- internals

    def _changed(self) -> None:
        self._version += 1

    def _selection(self, query: LinkQuery) -> list[Document]:
        if self._selections_version != self._version:
            self._selections.clear()
            self._rendered.clear()
            self._selections_version = self._version
        key = dataclasses.replace(query, page=1, per_page=1)
        selected = self._selections.get(key)
        if selected is None:
            selected = [document for document in self._links.values() if query.matches(document)]
            sort = query.sort or DEFAULT_SORT
            selected.sort(key=lambda document: document["_id"], reverse=sort[0][1])
            for path, descending in reversed(sort):
                selected.sort(key=sort_key(path), reverse=descending)
            if len(self._selections) >= _SELECTION_CACHE_SIZE:
                self._selections.clear()
            self._selections[key] = selected
        return selected

    def _now(self) -> datetime.datetime:
        return to_millis(self._clock())

    def _usable(self, document: Document, ip_address: str, now: datetime.datetime) -> bool:
        restrictions = document["access_restrictions"]
        expiry = document["expiry_date"]
        max_uses = restrictions["max_uses"]
        allowed_ips = restrictions["allowed_ips"]
        return bool(
            document["is_active"]
            and (expiry is None or expiry > now)
            and (not max_uses or document["usage_stats"]["total_views"] < max_uses)
            and (not allowed_ips or _address_allowed(ip_address, allowed_ips))
        )

    def _new_id(self, created: datetime.datetime) -> str:
        """ObjectId-like: creation seconds, a per-store random part, an increasing counter."""
        while True:
            self._id_counter = (self._id_counter + 1) % (1 << 24)
            seconds = int(created.timestamp()) & 0xFFFFFFFF
            candidate = f"{seconds:08x}{self._id_middle}{self._id_counter:06x}"
            if candidate not in self._links:
                return candidate

    def _new_token(self) -> str:
        while True:
            candidate = f"{TOKEN_PREFIX}{self._rng.getrandbits(128):032x}"
            if candidate not in self._id_by_token:
                return candidate

    def _new_document(
        self, workorder: str, created: datetime.datetime, created_by: str
    ) -> Document:
        return {
            "_id": self._new_id(created),
            "workorder": workorder,
            "link_token": self._new_token(),
            "link_type": "private",
            "permissions": defaults("permissions"),
            "access_restrictions": defaults("access_restrictions"),
            "expiry_date": None,
            "is_active": True,
            "usage_stats": {
                "total_views": 0,
                "unique_visitors": 0,
                "last_accessed": None,
                "access_log": [],
            },
            "notification_settings": defaults("notification_settings"),
            "custom_branding": defaults("custom_branding"),
            "metadata": {"created_by": created_by, **defaults("metadata")},
            "company_namespace": [],
            "createdAt": created,
            "modifiedAt": created,
            "SVClient": 0,
            "__v": 0,
        }

    @staticmethod
    def _apply(document: Document, fields: Mapping[str, Any]) -> None:
        for key, value in fields.items():
            if key in NESTED_SCHEMAS:
                document[key].update(copy.deepcopy(value))
            else:
                document[key] = copy.deepcopy(value)

    def _insert(self, document: Document) -> None:
        self._changed()
        self._links[document["_id"]] = document
        self._id_by_token[document["link_token"]] = document["_id"]
        self._visitors[document["_id"]] = {
            entry["ip_address"] for entry in document["usage_stats"]["access_log"]
        }

    def _touched(self, document: Document) -> Document:
        self._changed()
        document["modifiedAt"] = self._now()
        document["__v"] += 1
        return self._render(document)

    def _render(self, document: Document) -> Document:
        rendered: Document = {}
        for key, value in document.items():
            rendered[key] = jsonable(value)
            if key == "link_token":
                rendered["full_url"] = f"{self._base_url().rstrip('/')}{PORTAL_PATH}/{value}"
        return rendered
