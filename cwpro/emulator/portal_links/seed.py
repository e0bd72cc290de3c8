"""Varied seeded portal links: every link type, active and inactive, expired and open-ended,
several namespaces, branding and usage logs on some. Everything comes from the given rng."""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from cwpro.emulator.portal_links.schema import LINK_TYPES, Document, to_millis

SEED_SPAN: Final = datetime.timedelta(days=180)
"""Seeded links are created within this span before "now"."""

_NAMESPACES: Final = ("acme", "globex", "initech", "umbrella", "stark")
_CREATORS: Final = ("api", "dispatcher@acme.example", "admin@globex.example")
_PURPOSES: Final = ("customer status updates", "technician access", "quote approval", None)
_TAGS: Final = ("customer", "urgent", "internal", "follow-up", "warranty")
_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
)

NewDocument = Callable[[str, datetime.datetime, str], Document]
"""Makes a fresh default link: (workorder id, creation time, created_by) -> document."""


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
        return to_millis(self._created + datetime.timedelta(seconds=self._rng.uniform(0, seconds)))

    def fill(self, document: Document) -> Document:
        """Overwrite the defaults of a fresh document with this link's seeded values."""
        rng, index = self._rng, self._index
        namespaces = rng.sample(_NAMESPACES, k=1 + index % 2)
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
            purpose=rng.choice(_PURPOSES), tags=rng.sample(_TAGS, k=rng.randint(0, 2))
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
                "user_agent": self._rng.choice(_AGENTS),
                "action": "view",
            }
            for moment in moments
        ]
        stats["total_views"] = views
        stats["unique_visitors"] = len({entry["ip_address"] for entry in stats["access_log"]})
        stats["last_accessed"] = moments[-1] if moments else None


def seeded_documents(
    rng: random.Random,
    count: int,
    workorder_ids: Sequence[str],
    now: datetime.datetime,
    new_document: NewDocument,
) -> Iterator[Document]:
    """`count` seeded links for the given workorders, oldest first, created within
    :data:`SEED_SPAN` before `now`. Raises ``ValueError`` on a negative count, or on a positive
    count without workorders."""
    if count < 0:
        raise ValueError("count must be >= 0")
    if count and not workorder_ids:
        raise ValueError("seeding portal links needs at least one workorder id")
    span = SEED_SPAN.total_seconds()
    ages = sorted((rng.uniform(0.0, span) for _ in range(count)), reverse=True)
    for index, age in enumerate(ages):
        created = to_millis(now - datetime.timedelta(seconds=age))
        workorder = rng.choice(workorder_ids).lower()
        fresh = new_document(workorder, created, rng.choice(_CREATORS))
        yield _LinkSeeder(rng, index, created, now).fill(fresh)
