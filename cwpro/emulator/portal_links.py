"""Workorder portal links in the cwpro emulator: an in-memory store and its aiohttp routes.

The routes follow the Workorder Portal Link API reference (`/workorder-portal-link`, page-number
paging, `{"success": ..., "data": ...}` bodies) and `GET /portal/{token}`, the public page a link
opens. Authentication, latency and fault injection are applied by the emulator's middleware.

Decisions taken where the reference is silent (the tests pin every one of them):

- Unknown fields, at the top level or inside the nested objects, are ignored and not stored, as a
  strict Mongoose schema does. So are the server-controlled fields (`_id`, `link_token`,
  `full_url`, `usage_stats`, `createdAt`, `modifiedAt`, `SVClient`, `__v`, `metadata.created_by`).
- Nested objects given to POST are merged into the defaults; PATCH merges them key by key into
  the stored object (`{"permissions": {"can_upload_files": true}}` keeps the other permissions).
  Arrays are always replaced whole. `"expiry_date": null` removes the expiry.
- PATCH may repeat the link's current `workorder`; any other `workorder` is a 422.
- Every successful PATCH, regenerate, activate and deactivate bumps `modifiedAt` and `__v`, even
  when nothing changed. A portal view changes only `usage_stats`.
- DELETE answers 200 `{"success": true, "data": <the deleted link>}`; its token stops resolving.
- An empty POST/PATCH body sent as JSON counts as `{}` (as Express' JSON body parser does).
- Checks run in this order: id format (400), Content-Type (422), JSON syntax (400), body schema
  (422), then the existence of the link or of the workorder (404).
- `expiry_date` may lie in the past (handy to test expired links); a naive date-time is UTC.
- `access_restrictions.allowed_ips` entries must be IP addresses or CIDR networks.
- `sort` takes comma-separated fields (dotted for nested scalars, `-` for descending); an unknown
  field is a 400. Ties are broken by `_id` in the direction of the first field.
- `GET /portal/{token}` answers 404 for an unknown, inactive, expired or used-up (`max_uses` > 0
  reached) link and for a caller outside `allowed_ips`. `password_protected` and
  `require_email_verification` are stored but not enforced. The access log keeps the latest
  `ACCESS_LOG_LIMIT` entries.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import ipaddress
import json
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from aiohttp import web
from multidict import MultiMapping

_LOG = logging.getLogger("cwpro.emulator.portal_links")

BASE_PATH: Final = "/workorder-portal-link"
PORTAL_PATH: Final = "/portal"
LINK_TYPES: Final = ("public", "private", "secure")
TOKEN_PREFIX: Final = "wpl_"
DEFAULT_PER_PAGE: Final = 25
MAX_PER_PAGE: Final = 100
ACCESS_LOG_LIMIT: Final = 100
DEFAULT_CREATED_BY: Final = "api"

_UTC: Final = datetime.timezone.utc
_OBJECT_ID: Final = re.compile(r"[0-9a-fA-F]{24}")
_DIGITS: Final = re.compile(r"-?[0-9]{1,18}")

Document = dict[str, Any]
SortKey = tuple[str, bool]
"""A sort field (dotted path) and whether it sorts descending."""

DEFAULT_SORT: Final[tuple[SortKey, ...]] = (("createdAt", False), ("_id", False))


# --------------------------------------------------------------------------- value checks


def _check_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be a boolean"


def _check_optional_str(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "must be a string or null"


def _check_str_list(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return None
    return "must be an array of strings"


def _check_count(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    return "must be a non-negative integer"


def _check_ip_list(value: Any) -> str | None:
    problem = _check_str_list(value)
    if problem is not None:
        return problem
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not an IP address or CIDR network"
    return None


_Check = Callable[[Any], "str | None"]

# Client-settable keys of each nested object: (check, default).
_NESTED_SCHEMAS: Final[dict[str, dict[str, tuple[_Check, Any]]]] = {
    "permissions": {
        "can_view_details": (_check_bool, True),
        "can_add_comments": (_check_bool, True),
        "can_upload_files": (_check_bool, False),
        "can_view_history": (_check_bool, True),
        "can_approve_reject": (_check_bool, False),
    },
    "access_restrictions": {
        "allowed_ips": (_check_ip_list, []),
        "max_uses": (_check_count, 0),
        "password_protected": (_check_bool, False),
        "require_email_verification": (_check_bool, False),
    },
    "notification_settings": {
        "notify_on_access": (_check_bool, False),
        "notify_on_comment": (_check_bool, True),
        "notify_on_file_upload": (_check_bool, True),
        "notification_recipients": (_check_str_list, []),
    },
    "custom_branding": {
        "logo_url": (_check_optional_str, None),
        "brand_color": (_check_optional_str, None),
        "custom_domain": (_check_optional_str, None),
        "footer_text": (_check_optional_str, None),
    },
    "metadata": {
        "purpose": (_check_optional_str, None),
        "tags": (_check_str_list, []),
    },
}

SORTABLE_FIELDS: Final = frozenset(
    (
        "_id",
        "workorder",
        "link_token",
        "link_type",
        "expiry_date",
        "is_active",
        "createdAt",
        "modifiedAt",
        "SVClient",
        "__v",
        "metadata.created_by",
        "usage_stats.total_views",
        "usage_stats.unique_visitors",
        "usage_stats.last_accessed",
    )
) | frozenset(
    f"{name}.{key}"
    for name, schema in _NESTED_SCHEMAS.items()
    for key, (check, _default) in schema.items()
    if check not in (_check_str_list, _check_ip_list)
)
"""Fields `sort` accepts: every scalar field of a link, nested ones as dotted paths."""


def _defaults(name: str) -> Document:
    return {key: copy.deepcopy(default) for key, (_check, default) in _NESTED_SCHEMAS[name].items()}


def _to_millis(moment: datetime.datetime) -> datetime.datetime:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=_UTC)
    utc = aware.astimezone(_UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def format_datetime(moment: datetime.datetime) -> str:
    """Render a datetime the way the wire wants it: `2024-01-01T00:00:00.000Z` (UTC)."""
    utc = _to_millis(moment)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _parse_datetime(text: str) -> datetime.datetime | None:
    """ISO 8601 date-time (a date alone is refused) -> aware UTC datetime, None if invalid."""
    if len(text) < 16 or text[10] not in "Tt":
        return None
    candidate = text[:-1] + "+00:00" if text[-1] in "Zz" else text
    try:
        return _to_millis(datetime.datetime.fromisoformat(candidate))
    except ValueError:
        return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return format_datetime(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def _validate_body(body: Mapping[str, Any], *, creating: bool) -> tuple[Document, list[str]]:
    """Check a POST/PATCH body; return its recognised fields (converted) and the problems."""
    fields: Document = {}
    problems: list[str] = []
    if creating or "workorder" in body:
        workorder = body.get("workorder")
        if workorder is None or workorder == "":
            problems.append("workorder: is required")
        elif not isinstance(workorder, str) or not _OBJECT_ID.fullmatch(workorder):
            problems.append("workorder: must be a 24-hex-digit id")
        else:
            fields["workorder"] = workorder.lower()
    if "link_type" in body:
        if body["link_type"] in LINK_TYPES:
            fields["link_type"] = body["link_type"]
        else:
            problems.append(f"link_type: must be one of {', '.join(LINK_TYPES)}")
    if "expiry_date" in body:
        expiry = body["expiry_date"]
        parsed = _parse_datetime(expiry) if isinstance(expiry, str) else None
        if expiry is None or parsed is not None:
            fields["expiry_date"] = parsed
        else:
            problems.append("expiry_date: must be an ISO 8601 date-time or null")
    flat_checks: tuple[tuple[str, _Check], ...] = (
        ("is_active", _check_bool),
        ("company_namespace", _check_str_list),
    )
    for name, flat_check in flat_checks:
        if name in body:
            problem = flat_check(body[name])
            if problem is None:
                fields[name] = copy.deepcopy(body[name])
            else:
                problems.append(f"{name}: {problem}")
    for name, schema in _NESTED_SCHEMAS.items():
        if name not in body:
            continue
        given = body[name]
        if not isinstance(given, dict):
            problems.append(f"{name}: must be an object")
            continue
        nested: Document = {}
        for key, (check, _default) in schema.items():
            if key in given:
                problem = check(given[key])
                if problem is None:
                    nested[key] = copy.deepcopy(given[key])
                else:
                    problems.append(f"{name}.{key}: {problem}")
        fields[name] = nested
    return fields, problems


def _lookup(document: Document, path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _sort_key(path: str) -> Callable[[Document], tuple[int, Any]]:
    """Sort key of a field; None sorts before every value (after them descending), as in MongoDB."""

    def key(document: Document) -> tuple[int, Any]:
        value = _lookup(document, path)
        return (0, 0) if value is None else (1, value)

    return key


# --------------------------------------------------------------------------- the store


@dataclasses.dataclass(frozen=True)
class LinkQuery:
    """A validated list request: paging, sort order and filters (empty filter = no filter)."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: tuple[SortKey, ...] = DEFAULT_SORT
    company_namespaces: frozenset[str] = frozenset()
    workorder: str | None = None
    is_active: bool | None = None
    link_type: str | None = None
    ids: frozenset[str] = frozenset()

    def matches(self, document: Document) -> bool:
        """Whether a stored link passes every filter of this query."""
        return (
            (not self.ids or document["_id"] in self.ids)
            and (self.workorder is None or document["workorder"] == self.workorder)
            and (self.is_active is None or document["is_active"] is self.is_active)
            and (self.link_type is None or document["link_type"] == self.link_type)
            and (
                not self.company_namespaces
                or not self.company_namespaces.isdisjoint(document["company_namespace"])
            )
        )


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


class PortalLinkStore:
    """In-memory workorder portal links, indexed by `_id` and by `link_token`.

    Methods taking a link id accept any case and return None when the id is unknown; returned
    links are fresh JSON-ready dicts as the API renders them (`full_url` uses `base_url()` of the
    moment). Fields given to `create`/`update` must already be validated by the routes.
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
                selected.sort(key=_sort_key(path), reverse=descending)
            if len(self._selections) >= 32:
                self._selections.clear()
            self._selections[key] = selected
        return selected

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
        stats["access_log"].append(
            {"timestamp": now, "ip_address": ip_address, "user_agent": user_agent, "action": "view"}
        )
        del stats["access_log"][:-ACCESS_LOG_LIMIT]
        return {key: document[key] for key in ("_id", "workorder", "link_type")}

    def seed(self, count: int, workorder_ids: Sequence[str]) -> None:
        """Add `count` varied links spread over the last 180 days for the given workorders:
        every link type, active and inactive, expired and open-ended, several namespaces,
        branding and usage logs on some."""
        if count < 0:
            raise ValueError("count must be >= 0")
        if count and not workorder_ids:
            raise ValueError("seeding portal links needs at least one workorder id")
        now = self._now()
        span = datetime.timedelta(days=180).total_seconds()
        ages = sorted((self._rng.uniform(0.0, span) for _ in range(count)), reverse=True)
        for index, age in enumerate(ages):
            created = _to_millis(now - datetime.timedelta(seconds=age))
            workorder = self._rng.choice(workorder_ids).lower()
            self._insert(
                _LinkSeeder(self._rng, index, created, now).fill(
                    self._new_document(workorder, created, self._rng.choice(_SEED_CREATORS))
                )
            )
        _LOG.debug("seeded %d portal links", count)

    # ----------------------------------------------------------------------- internals

    def _now(self) -> datetime.datetime:
        return _to_millis(self._clock())

    def _usable(self, document: Document, ip_address: str, now: datetime.datetime) -> bool:
        restrictions = document["access_restrictions"]
        expiry = document["expiry_date"]
        return (
            document["is_active"]
            and (expiry is None or expiry > now)
            and (
                not restrictions["max_uses"]
                or document["usage_stats"]["total_views"] < restrictions["max_uses"]
            )
            and (
                not restrictions["allowed_ips"]
                or _address_allowed(ip_address, restrictions["allowed_ips"])
            )
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
        metadata = {"created_by": created_by, **_defaults("metadata")}
        return {
            "_id": self._new_id(created),
            "workorder": workorder,
            "link_token": self._new_token(),
            "link_type": "private",
            "permissions": _defaults("permissions"),
            "access_restrictions": _defaults("access_restrictions"),
            "expiry_date": None,
            "is_active": True,
            "usage_stats": {
                "total_views": 0,
                "unique_visitors": 0,
                "last_accessed": None,
                "access_log": [],
            },
            "notification_settings": _defaults("notification_settings"),
            "custom_branding": _defaults("custom_branding"),
            "metadata": metadata,
            "company_namespace": [],
            "createdAt": created,
            "modifiedAt": created,
            "SVClient": 0,
            "__v": 0,
        }

    @staticmethod
    def _apply(document: Document, fields: Mapping[str, Any]) -> None:
        for key, value in fields.items():
            if key in _NESTED_SCHEMAS:
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
            rendered[key] = _jsonable(value)
            if key == "link_token":
                rendered["full_url"] = f"{self._base_url().rstrip('/')}{PORTAL_PATH}/{value}"
        return rendered


def _address_allowed(ip_address: str, allowed: Iterable[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip_address)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in allowed)


# --------------------------------------------------------------------------- seeding

_SEED_NAMESPACES: Final = ("acme", "globex", "initech", "umbrella", "stark")
_SEED_CREATORS: Final = ("api", "dispatcher@acme.example", "admin@globex.example")
_SEED_PURPOSES: Final = ("customer status updates", "technician access", "quote approval", None)
_SEED_TAGS: Final = ("customer", "urgent", "internal", "follow-up", "warranty")
_SEED_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
)


class _LinkSeeder:
    """Fills a fresh document with the varied values of the `index`-th seeded link."""

    def __init__(
        self, rng: random.Random, index: int, created: datetime.datetime, now: datetime.datetime
    ) -> None:
        self._rng = rng
        self._index = index
        self._created = created
        self._now = now

    def _moment_after_creation(self) -> datetime.datetime:
        seconds = (self._now - self._created).total_seconds()
        return _to_millis(self._created + datetime.timedelta(seconds=self._rng.uniform(0, seconds)))

    def fill(self, document: Document) -> Document:
        """Overwrite the defaults of a fresh document with this link's seeded values."""
        rng, index = self._rng, self._index
        namespaces = rng.sample(_SEED_NAMESPACES, k=1 + index % 2)
        document["link_type"] = LINK_TYPES[index % len(LINK_TYPES)]
        document["is_active"] = index % 4 != 3
        document["company_namespace"] = namespaces
        document["permissions"].update(
            can_upload_files=rng.random() < 0.4,
            can_approve_reject=rng.random() < 0.3,
            can_add_comments=rng.random() < 0.8,
        )
        if document["link_type"] == "secure":
            document["access_restrictions"].update(
                password_protected=True,
                require_email_verification=rng.random() < 0.5,
                max_uses=rng.choice((0, 10, 50)),
                allowed_ips=["203.0.113.0/24"] if index % 6 == 2 else [],
            )
        expiry_kind = index % 5
        if expiry_kind == 1:
            document["expiry_date"] = self._created + datetime.timedelta(days=rng.randint(1, 14))
        elif expiry_kind == 2:
            document["expiry_date"] = self._now + datetime.timedelta(days=rng.randint(1, 90))
        if index % 4 == 0:
            document["custom_branding"].update(
                logo_url=f"https://{namespaces[0]}.example/logo.png",
                brand_color=f"#{rng.getrandbits(24):06X}",
                footer_text=f"{namespaces[0]} field services",
            )
        document["notification_settings"]["notification_recipients"] = [
            f"ops@{namespaces[0]}.example"
        ]
        document["metadata"].update(
            purpose=rng.choice(_SEED_PURPOSES), tags=rng.sample(_SEED_TAGS, k=rng.randint(0, 2))
        )
        self._fill_usage(document["usage_stats"])
        if rng.random() < 0.6:
            document["modifiedAt"] = self._moment_after_creation()
            document["__v"] = rng.randint(1, 3)
        return document

    def _fill_usage(self, stats: Document) -> None:
        views = self._rng.choice((0, 0, 1, 3, 6))
        moments = sorted(self._moment_after_creation() for _ in range(views))
        stats["access_log"] = [
            {
                "timestamp": moment,
                "ip_address": f"203.0.113.{self._rng.randint(1, 12)}",
                "user_agent": self._rng.choice(_SEED_AGENTS),
                "action": "view",
            }
            for moment in moments
        ]
        stats["total_views"] = views
        stats["unique_visitors"] = len({entry["ip_address"] for entry in stats["access_log"]})
        stats["last_accessed"] = moments[-1] if moments else None


# --------------------------------------------------------------------------- HTTP layer


class _ApiError(Exception):
    """An error answer in the portal-link API's shape."""

    def __init__(self, status: int, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def response(self) -> web.Response:
        payload: Document = {"success": False, "error": self.message}
        if self.details is not None:
            payload["details"] = self.details
        return web.json_response(payload, status=self.status)


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _answering_errors(handler: _Handler) -> _Handler:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _ApiError as error:
            return error.response()

    return wrapped


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "data": data}, status=status)


def _found(link: Document | None) -> Document:
    if link is None:
        raise _ApiError(404, "Workorder portal link not found")
    return link


def _path_id(request: web.Request) -> str:
    link_id = request.match_info["link_id"]
    if not _OBJECT_ID.fullmatch(link_id):
        raise _ApiError(400, "Invalid ID format")
    return link_id.lower()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _json_object(request: web.Request) -> Document:
    if request.content_type != "application/json":
        raise _ApiError(422, "Content-Type must be application/json")
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _ApiError(400, "Malformed JSON in request body") from None
    if not isinstance(body, dict):
        raise _ApiError(400, "Request body must be a JSON object")
    return body


def _validated(body: Mapping[str, Any], *, creating: bool) -> Document:
    fields, problems = _validate_body(body, creating=creating)
    if problems:
        raise _ApiError(422, "Validation failed", problems)
    return fields


def _single(params: MultiMapping[str], name: str) -> str | None:
    values = params.getall(name, [])
    if len(values) > 1:
        raise _ApiError(400, f"Invalid {name}: give it at most once")
    return values[0] if values else None


def _int_param(
    params: MultiMapping[str], name: str, default: int, low: int, high: int | None
) -> int:
    text = _single(params, name)
    if text is None:
        return default
    value = int(text) if _DIGITS.fullmatch(text) else None
    if value is None or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise _ApiError(400, f"Invalid {name}: must be an integer {bounds}")
    return value


def _ids_param(params: MultiMapping[str], name: str) -> frozenset[str]:
    values = params.getall(name, []) + params.getall(f"{name}[]", [])
    if not all(_OBJECT_ID.fullmatch(value) for value in values):
        raise _ApiError(400, "Invalid ID format")
    return frozenset(value.lower() for value in values)


def _sort_param(text: str | None) -> tuple[SortKey, ...]:
    if text is None or not text.strip():
        return DEFAULT_SORT
    keys: list[SortKey] = []
    for raw_field in text.split(","):
        field = raw_field.strip()
        descending = field.startswith("-")
        field = field.removeprefix("-")
        if field not in SORTABLE_FIELDS:
            raise _ApiError(400, f"Invalid sort field: {field or repr(raw_field)}")
        keys.append((field, descending))
    return tuple(keys)


def parse_list_query(params: MultiMapping[str]) -> LinkQuery:
    """Turn the list route's query string into a LinkQuery; bad values raise a 400 answer."""
    is_active_text = _single(params, "is_active")
    if is_active_text is not None and is_active_text.lower() not in ("true", "false"):
        raise _ApiError(400, "Invalid is_active: must be true or false")
    link_type = _single(params, "link_type")
    if link_type is not None and link_type not in LINK_TYPES:
        raise _ApiError(400, f"Invalid link_type: must be one of {', '.join(LINK_TYPES)}")
    workorder = _single(params, "workorder")
    if workorder is not None and not _OBJECT_ID.fullmatch(workorder):
        raise _ApiError(400, "Invalid ID format")
    return LinkQuery(
        page=_int_param(params, "page", 1, 1, None),
        per_page=_int_param(params, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
        sort=_sort_param(_single(params, "sort")),
        company_namespaces=frozenset(
            params.getall("company_namespace", []) + params.getall("company_namespace[]", [])
        ),
        workorder=None if workorder is None else workorder.lower(),
        is_active=None if is_active_text is None else is_active_text.lower() == "true",
        link_type=link_type,
        ids=_ids_param(params, "_id"),
    )


class _PortalLinkHandlers:
    """The route handlers, bound to one store."""

    def __init__(self, store: PortalLinkStore) -> None:
        self._store = store

    async def list_links(self, request: web.Request) -> web.Response:
        page = self._store.list_links(parse_list_query(request.query))
        return web.json_response({"success": True, "data": page.items, "paging": page.paging()})

    async def create_link(self, request: web.Request) -> web.Response:
        fields = _validated(await _json_object(request), creating=True)
        if not self._store.workorder_exists(fields["workorder"]):
            raise _ApiError(404, "Workorder not found")
        return _ok(self._store.create(fields), status=201)

    async def get_link(self, request: web.Request) -> web.Response:
        return _ok(_found(self._store.get(_path_id(request))))

    async def update_link(self, request: web.Request) -> web.Response:
        link_id = _path_id(request)
        fields = _validated(await _json_object(request), creating=False)
        current = _found(self._store.get(link_id))
        if fields.get("workorder", current["workorder"]) != current["workorder"]:
            raise _ApiError(422, "Validation failed", ["workorder: cannot be changed"])
        return _ok(_found(self._store.update(link_id, fields)))

    async def delete_link(self, request: web.Request) -> web.Response:
        return _ok(_found(self._store.delete(_path_id(request))))

    async def regenerate(self, request: web.Request) -> web.Response:
        return _ok(_found(self._store.regenerate_token(_path_id(request))))

    async def activate(self, request: web.Request) -> web.Response:
        return _ok(_found(self._store.set_active(_path_id(request), True)))

    async def deactivate(self, request: web.Request) -> web.Response:
        return _ok(_found(self._store.set_active(_path_id(request), False)))

    async def open_portal(self, request: web.Request) -> web.Response:
        summary = self._store.record_view(
            request.match_info["token"],
            ip_address=request.remote or "",
            user_agent=request.headers.get("User-Agent", ""),
        )
        if summary is None:
            raise _ApiError(404, "Portal link not found")
        return _ok(summary)


def portal_link_routes(store: PortalLinkStore) -> list[web.RouteDef]:
    """The portal-link routes (`/workorder-portal-link...` and the public `/portal/{token}`)."""
    handlers = _PortalLinkHandlers(store)
    item = f"{BASE_PATH}/{{link_id}}"
    return [
        web.get(BASE_PATH, _answering_errors(handlers.list_links)),
        web.post(BASE_PATH, _answering_errors(handlers.create_link)),
        web.get(item, _answering_errors(handlers.get_link)),
        web.patch(item, _answering_errors(handlers.update_link)),
        web.delete(item, _answering_errors(handlers.delete_link)),
        web.post(f"{item}/regenerate", _answering_errors(handlers.regenerate)),
        web.post(f"{item}/activate", _answering_errors(handlers.activate)),
        web.post(f"{item}/deactivate", _answering_errors(handlers.deactivate)),
        web.get(
            f"{PORTAL_PATH}/{{token}}", _answering_errors(handlers.open_portal), allow_head=False
        ),
    ]
