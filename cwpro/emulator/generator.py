"""Deterministic, seedable fake data for the emulator.

Every seeded object is a pure function of ``(seed, index)``: work orders are never stored, they are
rendered on demand from their index (a 64-bit mix hash per field, not a ``random.Random`` per item,
so a 1000-item page renders in a few milliseconds and a million-item dataset costs nothing to
"create"). Seeded creation dates run from old to recent so that ids (which embed the creation
second) sort in index order; the last quarter of every collection falls in the 120 days before the
anchor, where the seeded webhook-notification history lives.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cwpro.emulator.wire import UTC, format_epoch_ms, make_object_id, to_epoch_ms

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
    "WiFi Heat Mapping", "IoT Devices", "Structured Cabling", "Site Survey", "POS Installation",
    "Security Camera Installation", "Network Audit", "Access Point Replacement",
    "Router Upgrade", "Digital Signage", "Fiber Splicing", "Low Voltage Wiring",
    "Printer Deployment", "Kiosk Maintenance", "Server Rack Build", "VoIP Phone Rollout",
)
_ACTIONS = ("Install", "Replace", "Inspect", "Repair", "Upgrade", "Survey", "Configure",
            "Relocate", "Decommission", "Test", "Audit", "Troubleshoot")
_OBJECTS = ("access points", "network switch", "POS terminals", "security cameras",
            "digital signage", "structured cabling", "firewall", "IoT sensors", "router",
            "printers", "VoIP phones", "badge readers")
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
_STREETS = ("Main St", "Oak Ave", "Congress Ave", "Market St", "Elm St", "Broadway",
            "Lakeshore Dr", "Pine St", "Maple Ave", "Commerce Blvd", "Industrial Pkwy",
            "Riverside Dr")
_BRANDS = ("Northwind Market", "Contoso Retail", "Fabrikam Foods", "Tailspin Outfitters",
           "Adventure Works", "Wide World Stores", "Litware Pharmacy", "Proseware Fitness")
_FIRST_NAMES = ("Ana", "Ben", "Chloe", "Diego", "Emma", "Farah", "George", "Hana", "Ivan",
                "Julia", "Kofi", "Lena", "Marco", "Nina", "Omar", "Priya")
_LAST_NAMES = ("Garcia", "Smith", "Nguyen", "Okafor", "Rossi", "Kim", "Muller", "Silva",
               "Johnson", "Tanaka", "Haddad", "Novak")
_ROLES = ("store manager", "facilities lead", "IT coordinator", "district manager",
          "on-site contact", "security officer")
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


def seeded_epoch_ms(index: int, count: int, anchor_ms: int, oldest_days: int,
                    newest_offset_ms: int = HOUR_MS) -> int:
    """Creation time of the ``index``-th of ``count`` seeded objects (non-decreasing in index).

    The first three quarters spread from ``oldest_days`` before the anchor up to 120 days before
    it; the last quarter spreads over the 120 days before the anchor (minus ``newest_offset_ms``).
    """
    recent_count = max(1, round(count * RECENT_SHARE)) if count else 0
    old_count = count - recent_count
    if index < old_count:
        start = anchor_ms - oldest_days * DAY_MS
        span = max(0, oldest_days * DAY_MS - RECENT_WINDOW_MS)
        return start + span * index // max(old_count, 1)
    start = anchor_ms - RECENT_WINDOW_MS
    span = RECENT_WINDOW_MS - newest_offset_ms
    return start + span * (index - old_count) // max(recent_count, 1)


def recent_indices(count: int) -> range:
    """Indices of the seeded objects created in the 120 days before the anchor."""
    recent_count = max(1, round(count * RECENT_SHARE)) if count else 0
    return range(count - recent_count, count)


def generate_work_types(seed: int, count: int, anchor: dt.datetime) -> list[dict[str, Any]]:
    """``count`` seeded work types, oldest first."""
    anchor_ms = to_epoch_ms(anchor)
    tag = collection_tag(seed, "worktypes")
    items: list[dict[str, Any]] = []
    for index in range(count):
        created_ms = seeded_epoch_ms(index, count, anchor_ms, oldest_days=1500)
        base = WORK_TYPE_NAMES[index % len(WORK_TYPE_NAMES)]
        round_no = index // len(WORK_TYPE_NAMES)
        name = base if round_no == 0 else f"{base} {round_no + 1}"
        items.append({
            "_id": make_object_id(created_ms // 1000, tag, index),
            "name": name,
            "description": f"{name}: standard CWP service offering, level {1 + index % 3}",
            "created_date": format_epoch_ms(created_ms),
        })
    return items


def generate_sites(seed: int, count: int, anchor: dt.datetime) -> list[dict[str, Any]]:
    """``count`` seeded sites, oldest first."""
    anchor_ms = to_epoch_ms(anchor)
    tag = collection_tag(seed, "sites")
    items: list[dict[str, Any]] = []
    for index in range(count):
        h = mix64(seed * 0x5851F42D4C957F2D + index * 0x14057B7EF767814F + 17)
        city, state, zip_prefix, lat, lon, timezone = _CITIES[h % len(_CITIES)]
        brand = _BRANDS[(h >> 8) % len(_BRANDS)]
        created_ms = seeded_epoch_ms(index, count, anchor_ms, oldest_days=1000)
        updated_ms = min(created_ms + ((h >> 16) % (60 * DAY_MS)), anchor_ms - 1000)
        items.append({
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
        })
    return items


class WorkOrderGenerator:
    """Renders seeded work order number ``index`` (0-based, in creation order) on demand."""

    def __init__(self, *, seed: int, count: int, anchor: dt.datetime,
                 sites: list[dict[str, Any]], work_types: list[dict[str, Any]]) -> None:
        self.seed = seed
        self.count = count
        self.anchor_ms = to_epoch_ms(anchor)
        self.tag = collection_tag(seed, "workorders")
        self._base = mix64(seed * 0x2545F4914F6CDD1D + 0x6A09E667)
        self._sites = sites
        self._work_types = work_types
        self._namespace = ["cwp", f"tenant-{seed % 97:02d}"]

    # -- identity -------------------------------------------------------------------------
    def created_ms(self, index: int) -> int:
        """Creation time (unix ms) of seeded work order ``index``."""
        return seeded_epoch_ms(index, self.count, self.anchor_ms, oldest_days=730)

    def object_id(self, index: int) -> str:
        """The ``_id`` of seeded work order ``index``."""
        return make_object_id(self.created_ms(index) // 1000, self.tag, index)

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

    # -- per-field values -------------------------------------------------------------------
    def _hash(self, index: int, field: int) -> int:
        return mix64(self._base ^ (index * 0x9E3779B97F4A7C15 + field * 0xD1B54A32D192ED03))

    def status(self, index: int) -> str:
        """Seeded ``status`` of work order ``index``."""
        return _STATUS_TABLE[self._hash(index, 1) % len(_STATUS_TABLE)]

    def priority(self, index: int) -> str:
        """Seeded ``priority``."""
        return _PRIORITY_TABLE[self._hash(index, 2) % len(_PRIORITY_TABLE)]

    def site(self, index: int) -> dict[str, Any] | None:
        """The seeded site the work order is at (None when there are no sites)."""
        if not self._sites:
            return None
        return self._sites[self._hash(index, 3) % len(self._sites)]

    def site_id(self, index: int) -> str | None:
        """Seeded ``site_id``."""
        site = self.site(index)
        return None if site is None else str(site["_id"])

    def work_type_ids(self, index: int) -> list[str]:
        """Seeded ``work_type_ids`` (one to three distinct work types)."""
        total = len(self._work_types)
        if not total:
            return []
        h = self._hash(index, 4)
        wanted = 1 + h % min(3, total)
        position = (h >> 8) % total
        step = 1 + (h >> 24) % max(total - 1, 1)
        taken: list[int] = []
        while len(taken) < wanted:
            while position % total in taken:  # terminates: wanted <= total
                position += 1
            taken.append(position % total)
            position += step
        return [str(self._work_types[slot]["_id"]) for slot in taken]

    def name(self, index: int) -> str:
        """Seeded ``name`` (deliberately repetitive, so sorting by name has ties)."""
        h = self._hash(index, 5)
        label = f"{_ACTIONS[h % len(_ACTIONS)]} {_OBJECTS[(h >> 8) % len(_OBJECTS)]}"
        site = self.site(index)
        return label if site is None else f"{label} at {site['name']}"

    def description(self, index: int) -> str:
        """Seeded ``description``."""
        h = self._hash(index, 6)
        requester = f"{_FIRST_NAMES[h % len(_FIRST_NAMES)]} {_LAST_NAMES[(h >> 8) % 12]}"
        return (f"{_ACTIONS[(h >> 16) % len(_ACTIONS)]} {_OBJECTS[(h >> 24) % len(_OBJECTS)]} "
                f"as requested by {requester}; estimated {1 + (h >> 32) % 8} hours on site, "
                f"{1 + (h >> 40) % 4} technician(s).")

    def created_date(self, index: int) -> str:
        """Seeded ``created_date``."""
        return format_epoch_ms(self.created_ms(index))

    def updated_date(self, index: int) -> str:
        """Seeded ``updated_date`` (never before creation, never after the anchor)."""
        created = self.created_ms(index)
        bump = self._hash(index, 7) % (30 * DAY_MS)
        return format_epoch_ms(max(created, min(created + bump, self.anchor_ms - 1000)))

    def scheduled_date(self, index: int) -> str | None:
        """Seeded ``scheduled_date`` (null for many drafts and open work orders)."""
        h = self._hash(index, 8)
        if self.status(index) in ("draft", "open") and h % 3:
            return None
        day = self.created_ms(index) // DAY_MS + 1 + (h >> 8) % 45
        return format_epoch_ms(day * DAY_MS + (8 + (h >> 16) % 10) * HOUR_MS)

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
    def render(self, index: int) -> dict[str, Any]:
        """The full seeded work order ``index`` (about 1.3 KB of JSON); a fresh dict each call."""
        h = self._hash(index, 9)
        site = self.site(index)
        contacts = []
        for slot in range(1 + h % 2):
            ch = mix64(h + slot)
            first = _FIRST_NAMES[ch % len(_FIRST_NAMES)]
            last = _LAST_NAMES[(ch >> 8) % len(_LAST_NAMES)]
            contacts.append({
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}@example.com",
                "phone": f"+1-555-{(ch >> 16) % 900 + 100:03d}-{(ch >> 28) % 9000 + 1000:04d}",
                "role": _ROLES[(ch >> 40) % len(_ROLES)],
            })
        notes = _NOTES[(h >> 8) % len(_NOTES)]
        if h & 0x10000:
            notes = f"{notes} {_NOTES[(h >> 20) % len(_NOTES)]}"
        return {
            "_id": self.object_id(index),
            "name": self.name(index),
            "description": self.description(index),
            "status": self.status(index),
            "priority": self.priority(index),
            "site_id": None if site is None else site["_id"],
            "work_type_ids": self.work_type_ids(index),
            "scheduled_date": self.scheduled_date(index),
            "created_date": self.created_date(index),
            "updated_date": self.updated_date(index),
            "address": None if site is None else site["address"],
            "contacts": contacts,
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
