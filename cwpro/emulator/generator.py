"""Deterministic, seedable fake data for the emulator.

Every seeded object is a pure function of ``(seed, index)``: work orders are never stored, they are
rendered on demand from their index (a 64-bit mix hash per field, not a ``random.Random`` per item,
so a 1000-item page renders in a few milliseconds and a million-item dataset costs nothing to
"create"). Seeded creation dates run from old to recent so that ids (which embed the creation
second) sort in index order; the last quarter of every collection falls in the 120 days before the
anchor, where the seeded webhook-notification history lives.
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Any

from cwpro.emulator.wire import UTC, format_epoch_ms, make_object_id, parse_datetime, to_epoch_ms

MASK64 = 0xFFFFFFFFFFFFFFFF
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
RECENT_WINDOW_MS = 120 * DAY_MS
RECENT_SHARE = 0.25

STATUSES = ("draft", "open", "scheduled", "in_progress", "on_hold", "completed", "cancelled")
PRIORITIES = ("low", "normal", "high", "urgent")
_STATUS_WEIGHTS = (10, 20, 20, 10, 5, 30, 5)
_PRIORITY_WEIGHTS = (25, 50, 18, 7)

WORK_TYPE_NAMES = (
    "WiFi Heat Mapping",
    "IoT Devices",
    "Structured Cabling",
    "Site Survey",
    "POS Installation",
    "Security Camera Installation",
    "Network Audit",
    "Access Point Replacement",
    "Router Upgrade",
    "Digital Signage",
    "Fiber Splicing",
    "Low Voltage Wiring",
    "Printer Deployment",
    "Kiosk Maintenance",
    "Server Rack Build",
    "VoIP Phone Rollout",
)
_ACTIONS = (
    "Install",
    "Replace",
    "Inspect",
    "Repair",
    "Upgrade",
    "Survey",
    "Configure",
    "Relocate",
    "Decommission",
    "Test",
    "Audit",
    "Troubleshoot",
)
_OBJECTS = (
    "access points",
    "network switch",
    "POS terminals",
    "security cameras",
    "digital signage",
    "structured cabling",
    "firewall",
    "IoT sensors",
    "router",
    "printers",
    "VoIP phones",
    "badge readers",
)
_CITIES = (
    ("Austin", "TX", "787", 30.2672, -97.7431, "America/Chicago"),
    ("Denver", "CO", "802", 39.7392, -104.9903, "America/Denver"),
    ("Seattle", "WA", "981", 47.6062, -122.3321, "America/Los_Angeles"),
    ("Boston", "MA", "021", 42.3601, -71.0589, "America/New_York"),
    ("Chicago", "IL", "606", 41.8781, -87.6298, "America/Chicago"),
    ("Miami", "FL", "331", 25.7617, -80.1918, "America/New_York"),
    ("Phoenix", "AZ", "850", 33.4484, -112.0740, "America/Phoenix"),
    ("Atlanta", "GA", "303", 33.7490, -84.3880, "America/New_York"),
    ("Portland", "OR", "972", 45.5152, -122.6784, "America/Los_Angeles"),
    ("Nashville", "TN", "372", 36.1627, -86.7816, "America/Chicago"),
    ("San Diego", "CA", "921", 32.7157, -117.1611, "America/Los_Angeles"),
    ("Columbus", "OH", "432", 39.9612, -82.9988, "America/New_York"),
)
_STREETS = (
    "Main St",
    "Oak Ave",
    "Congress Ave",
    "Market St",
    "Elm St",
    "Broadway",
    "Lakeshore Dr",
    "Pine St",
    "Maple Ave",
    "Commerce Blvd",
    "Industrial Pkwy",
    "Riverside Dr",
)
_BRANDS = (
    "Northwind Market",
    "Contoso Retail",
    "Fabrikam Foods",
    "Tailspin Outfitters",
    "Adventure Works",
    "Wide World Stores",
    "Litware Pharmacy",
    "Proseware Fitness",
)
_FIRST_NAMES = (
    "Ana",
    "Ben",
    "Chloe",
    "Diego",
    "Emma",
    "Farah",
    "George",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
    "Marco",
    "Nina",
    "Omar",
    "Priya",
)
_LAST_NAMES = (
    "Garcia",
    "Smith",
    "Nguyen",
    "Okafor",
    "Rossi",
    "Kim",
    "Muller",
    "Silva",
    "Johnson",
    "Tanaka",
    "Haddad",
    "Novak",
)
_ROLES = (
    "store manager",
    "facilities lead",
    "IT coordinator",
    "district manager",
    "on-site contact",
    "security officer",
)
_NOTES = (
    "Technician must check in with the store manager on arrival and sign the visitor log.",
    "Ceiling height is roughly 14 ft in the sales floor; bring the tall ladder or a lift.",
    "Work must be completed outside trading hours, between 10 PM and 6 AM local time.",
    "Customer requested photos of every installed device and of the network closet.",
    "Parking is available behind the building; loading dock access code is at the front desk.",
    "Previous visit found a damaged patch panel; replacement parts were shipped to the site.",
    "Escort required in restricted areas; wear the provided badge at all times.",
    "Confirm with the NOC before power cycling any network equipment on site.",
)
_COST_CENTERS = ("CC-1001", "CC-1042", "CC-2077", "CC-3150", "CC-4200", "CC-5311")


def mix64(value: int) -> int:
    """SplitMix64 finalizer: a fast, well-spread 64-bit hash of an integer."""
    value = (value + 0x9E3779B97F4A7C15) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


def collection_tag(seed: int, collection: str) -> int:
    """The 24-bit id tag of a collection for a seed (keeps ids of collections apart)."""
    salt = sum(ord(c) << (i % 7) for i, c in enumerate(collection))
    return mix64(seed * 1_000_003 + salt) & 0xFFFFFF


def _weighted_table(values: tuple[str, ...], weights: tuple[int, ...]) -> tuple[str, ...]:
    table: list[str] = []
    for value, weight in zip(values, weights, strict=True):
        table.extend([value] * weight)
    return tuple(table)


_STATUS_TABLE = _weighted_table(STATUSES, _STATUS_WEIGHTS)
_PRIORITY_TABLE = _weighted_table(PRIORITIES, _PRIORITY_WEIGHTS)


class Timeline:
    """Creation times (unix ms) of ``count`` seeded objects, non-decreasing in their index.

    The first three quarters (``1 - recent_share``) spread from ``oldest_days`` before the anchor
    up to 120 days before it; the rest spreads over the 120 days before the anchor (minus
    ``newest_offset_ms``).
    """

    def __init__(
        self,
        count: int,
        anchor_ms: int,
        oldest_days: int,
        newest_offset_ms: int = HOUR_MS,
        recent_share: float = RECENT_SHARE,
    ) -> None:
        recent_count = max(1, round(count * recent_share)) if count and recent_share else 0
        self.old_count = count - recent_count
        self.recent = range(self.old_count, count)
        self._old_start = anchor_ms - oldest_days * DAY_MS
        self._old_span = max(0, oldest_days * DAY_MS - RECENT_WINDOW_MS)
        self._old_divisor = max(self.old_count, 1)
        self._recent_start = anchor_ms - RECENT_WINDOW_MS
        self._recent_span = RECENT_WINDOW_MS - newest_offset_ms
        self._recent_divisor = max(recent_count, 1)

    def at(self, index: int) -> int:
        """Creation time of object ``index``."""
        if index < self.old_count:
            return self._old_start + self._old_span * index // self._old_divisor
        return (
            self._recent_start
            + self._recent_span * (index - self.old_count) // self._recent_divisor
        )


def parse_wire_ms(text: str) -> int:
    """Unix milliseconds of a wire datetime."""
    return to_epoch_ms(parse_datetime(text))


def recent_indices(count: int) -> range:
    """Indices of the seeded objects created in the 120 days before the anchor."""
    return Timeline(count, 0, 0).recent


def generate_work_types(seed: int, count: int, anchor: dt.datetime) -> list[dict[str, Any]]:
    """``count`` seeded work types, oldest first."""
    # all work types predate every seeded work order (created 730 days ago at the earliest)
    timeline = Timeline(
        count, to_epoch_ms(anchor) - 620 * DAY_MS, oldest_days=880, recent_share=0.0
    )
    tag = collection_tag(seed, "worktypes")
    items: list[dict[str, Any]] = []
    for index in range(count):
        created_ms = timeline.at(index)
        base = WORK_TYPE_NAMES[index % len(WORK_TYPE_NAMES)]
        round_no = index // len(WORK_TYPE_NAMES)
        name = base if round_no == 0 else f"{base} {round_no + 1}"
        items.append(
            {
                "_id": make_object_id(created_ms // 1000, tag, index),
                "name": name,
                "description": f"{name}: standard CWP service offering, level {1 + index % 3}",
                "created_date": format_epoch_ms(created_ms),
            }
        )
    return items


def generate_sites(seed: int, count: int, anchor: dt.datetime) -> list[dict[str, Any]]:
    """``count`` seeded sites, oldest first."""
    anchor_ms = to_epoch_ms(anchor)
    timeline = Timeline(count, anchor_ms, oldest_days=1000)
    tag = collection_tag(seed, "sites")
    items: list[dict[str, Any]] = []
    for index in range(count):
        h = mix64(seed * 0x5851F42D4C957F2D + index * 0x14057B7EF767814F + 17)
        city, state, zip_prefix, lat, lon, timezone = _CITIES[h % len(_CITIES)]
        brand = _BRANDS[(h >> 8) % len(_BRANDS)]
        created_ms = timeline.at(index)
        updated_ms = min(created_ms + ((h >> 16) % (60 * DAY_MS)), anchor_ms - 1000)
        items.append(
            {
                "_id": make_object_id(created_ms // 1000, tag, index),
                "name": f"{brand} {city} #{index + 1:03d}",
                "address": {
                    "street": f"{100 + (h >> 24) % 9800} {_STREETS[(h >> 36) % len(_STREETS)]}",
                    "city": city,
                    "state": state,
                    "zip_code": f"{zip_prefix}{(h >> 40) % 100:02d}",
                    "country": "US",
                },
                "latitude": round(lat + ((h >> 44) % 2001 - 1000) / 10000, 6),
                "longitude": round(lon + ((h >> 52) % 2001 - 1000) / 10000, 6),
                "created_date": format_epoch_ms(created_ms),
                "updated_date": format_epoch_ms(max(created_ms, updated_ms)),
                "phone": f"+1-555-{(h >> 12) % 900 + 100:03d}-{(h >> 20) % 9000 + 1000:04d}",
                "timezone": timezone,
                "site_code": f"S{index + 1:05d}",
                "external_reference": f"SITE-{seed & 0xFFFF:04X}-{index:06d}",
                "company_namespace": ["cwp", f"tenant-{seed % 97:02d}"],
            }
        )
    return items


class WorkOrderGenerator:
    """Renders seeded work order number ``index`` (0-based, in creation order) on demand.

    Each field comes from its own 64-bit hash of ``(seed, index, field)``; the public per-field
    methods (used to build sort/filter columns) and :meth:`render` share the same helpers, so a
    column value always equals the field of the rendered item.
    """

    def __init__(
        self,
        *,
        seed: int,
        count: int,
        anchor: dt.datetime,
        sites: list[dict[str, Any]],
        work_types: list[dict[str, Any]],
    ) -> None:
        self.seed = seed
        self.count = count
        self.anchor_ms = to_epoch_ms(anchor)
        self.tag = collection_tag(seed, "workorders")
        self._timeline = Timeline(count, self.anchor_ms, oldest_days=730)
        self._base = mix64(seed * 0x2545F4914F6CDD1D + 0x6A09E667)
        self._sites = sites
        self._site_ids = [str(site["_id"]) for site in sites]
        self._site_created = [parse_wire_ms(str(site["created_date"])) for site in sites]
        self._type_ids = [str(work_type["_id"]) for work_type in work_types]
        self._namespace = ["cwp", f"tenant-{seed % 97:02d}"]

    # -- identity -------------------------------------------------------------------------
    def created_ms(self, index: int) -> int:
        """Creation time (unix ms) of seeded work order ``index``."""
        return self._timeline.at(index)

    def object_id(self, index: int) -> str:
        """The ``_id`` of seeded work order ``index``."""
        return make_object_id(self._timeline.at(index) // 1000, self.tag, index)

    def index_of(self, object_id: str) -> int | None:
        """The index of a seeded work order id, or None when the id is not a seeded one."""
        if len(object_id) != 24:
            return None
        try:
            index = int(object_id[14:], 16)
        except ValueError:
            return None
        if index >= self.count or self.object_id(index) != object_id:
            return None
        return index

    # -- per-field helpers (shared by columns and render) ----------------------------------
    def _hash(self, index: int, field: int) -> int:
        return mix64(self._base ^ (index * 0x9E3779B97F4A7C15 + field * 0xD1B54A32D192ED03))

    def _site_index(self, index: int) -> int | None:
        """A site created before the work order (any site if none is that old)."""
        if not self._sites:
            return None
        existing = bisect.bisect_right(self._site_created, self._timeline.at(index))
        return self._hash(index, 3) % (existing or len(self._sites))

    def _work_type_ids(self, h: int) -> list[str]:
        total = len(self._type_ids)
        if not total:
            return []
        wanted = 1 + h % min(3, total)
        first = (h >> 8) % total
        chosen = [first]
        if wanted > 1:
            second = (first + 1 + (h >> 24) % (total - 1)) % total
            chosen.append(second)
            if wanted > 2:
                third = (first + 1 + (h >> 40) % (total - 1)) % total
                while third in chosen:
                    third = (third + 1) % total
                chosen.append(third)
        return [self._type_ids[slot] for slot in chosen]

    def _name(self, h: int, site_index: int | None) -> str:
        label = f"{_ACTIONS[h % len(_ACTIONS)]} {_OBJECTS[(h >> 8) % len(_OBJECTS)]}"
        if site_index is None:
            return label
        return f"{label} at {self._sites[site_index]['name']}"

    @staticmethod
    def _description(h: int) -> str:
        requester = f"{_FIRST_NAMES[h % len(_FIRST_NAMES)]} {_LAST_NAMES[(h >> 8) % 12]}"
        return (
            f"{_ACTIONS[(h >> 16) % len(_ACTIONS)]} {_OBJECTS[(h >> 24) % len(_OBJECTS)]} "
            f"as requested by {requester}; estimated {1 + (h >> 32) % 8} hours on site, "
            f"{1 + (h >> 40) % 4} technician(s)."
        )

    def _updated_ms(self, created: int, h: int) -> int:
        return max(created, min(created + h % (30 * DAY_MS), self.anchor_ms - 1000))

    @staticmethod
    def _scheduled(created: int, status: str, h: int) -> str | None:
        if status in ("draft", "open") and h % 3:
            return None
        day = created // DAY_MS + 1 + (h >> 8) % 45
        return format_epoch_ms(day * DAY_MS + (8 + (h >> 16) % 10) * HOUR_MS)

    # -- per-field values -------------------------------------------------------------------
    def status(self, index: int) -> str:
        """Seeded ``status`` of work order ``index``."""
        return _STATUS_TABLE[self._hash(index, 1) % len(_STATUS_TABLE)]

    def priority(self, index: int) -> str:
        """Seeded ``priority``."""
        return _PRIORITY_TABLE[self._hash(index, 2) % len(_PRIORITY_TABLE)]

    def site_id(self, index: int) -> str | None:
        """Seeded ``site_id`` (None when there are no sites)."""
        site_index = self._site_index(index)
        return None if site_index is None else self._site_ids[site_index]

    def work_type_ids(self, index: int) -> list[str]:
        """Seeded ``work_type_ids`` (one to three distinct work types)."""
        return self._work_type_ids(self._hash(index, 4))

    def name(self, index: int) -> str:
        """Seeded ``name`` (deliberately repetitive, so sorting by name has ties)."""
        return self._name(self._hash(index, 5), self._site_index(index))

    def description(self, index: int) -> str:
        """Seeded ``description``."""
        return self._description(self._hash(index, 6))

    def created_date(self, index: int) -> str:
        """Seeded ``created_date``."""
        return format_epoch_ms(self._timeline.at(index))

    def updated_date(self, index: int) -> str:
        """Seeded ``updated_date`` (never before creation, never after the anchor)."""
        return format_epoch_ms(self._updated_ms(self._timeline.at(index), self._hash(index, 7)))

    def scheduled_date(self, index: int) -> str | None:
        """Seeded ``scheduled_date`` (null for many drafts and open work orders)."""
        return self._scheduled(self._timeline.at(index), self.status(index), self._hash(index, 8))

    def external_reference(self, index: int) -> str:
        """Seeded ``external_reference``."""
        return f"EXT-{self.seed & 0xFFFF:04X}-{index:08d}"

    def column(self, field: str, index: int) -> Any:
        """The value of sortable/filterable ``field`` for work order ``index``."""
        if field == "_id":
            return self.object_id(index)
        getter = _COLUMN_GETTERS[field]
        return getter(self, index)

    # -- whole item ------------------------------------------------------------------------
    def _contacts(self, h: int) -> list[dict[str, str]]:
        contacts = []
        for slot in range(1 + h % 2):
            ch = mix64(h + slot)
            first = _FIRST_NAMES[ch % len(_FIRST_NAMES)]
            last = _LAST_NAMES[(ch >> 8) % len(_LAST_NAMES)]
            contacts.append(
                {
                    "name": f"{first} {last}",
                    "email": f"{first.lower()}.{last.lower()}@example.com",
                    "phone": f"+1-555-{(ch >> 16) % 900 + 100:03d}-{(ch >> 28) % 9000 + 1000:04d}",
                    "role": _ROLES[(ch >> 40) % len(_ROLES)],
                }
            )
        return contacts

    def render(self, index: int) -> dict[str, Any]:
        """The full seeded work order ``index`` (about 1.2 KB of JSON); a fresh dict each call."""
        created = self._timeline.at(index)
        status = self.status(index)
        site_index = self._site_index(index)
        site = None if site_index is None else self._sites[site_index]
        h = self._hash(index, 9)
        notes = _NOTES[(h >> 8) % len(_NOTES)]
        if h & 0x10000:
            notes = f"{notes} {_NOTES[(h >> 20) % len(_NOTES)]}"
        return {
            "_id": make_object_id(created // 1000, self.tag, index),
            "name": self._name(self._hash(index, 5), site_index),
            "description": self._description(self._hash(index, 6)),
            "status": status,
            "priority": self.priority(index),
            "site_id": None if site is None else site["_id"],
            "work_type_ids": self._work_type_ids(self._hash(index, 4)),
            "scheduled_date": self._scheduled(created, status, self._hash(index, 8)),
            "created_date": format_epoch_ms(created),
            "updated_date": format_epoch_ms(self._updated_ms(created, self._hash(index, 7))),
            "address": None if site is None else site["address"],
            "contacts": self._contacts(h),
            "custom_fields": {
                "po_number": f"PO-{(h >> 24) % 900000 + 100000}",
                "cost_center": _COST_CENTERS[(h >> 44) % len(_COST_CENTERS)],
                "requires_lift": bool(h & 0x20000),
                "estimated_hours": round(0.5 + (h >> 48) % 32 / 4, 2),
            },
            "notes": notes,
            "external_reference": self.external_reference(index),
            "company_namespace": self._namespace,
        }


_COLUMN_GETTERS = {
    "name": WorkOrderGenerator.name,
    "description": WorkOrderGenerator.description,
    "status": WorkOrderGenerator.status,
    "priority": WorkOrderGenerator.priority,
    "site_id": WorkOrderGenerator.site_id,
    "work_type_ids": WorkOrderGenerator.work_type_ids,
    "scheduled_date": WorkOrderGenerator.scheduled_date,
    "created_date": WorkOrderGenerator.created_date,
    "updated_date": WorkOrderGenerator.updated_date,
    "external_reference": WorkOrderGenerator.external_reference,
}


def anchor_for(start: dt.datetime) -> dt.datetime:
    """The dataset anchor of a clock start: that UTC day at midnight (so one seed gives the same
    dataset all day long, in every process)."""
    start = start.astimezone(UTC)
    return dt.datetime(start.year, start.month, start.day, tzinfo=UTC)
