"""The shape of a portal link: client-settable fields, their checks and defaults, datetimes.

A POST/PATCH body is checked field by field against the published schema; what passes is
returned converted (datetimes parsed, ids lowercased), what fails is reported as one
``"field: problem"`` string per field (the routes answer those with a 422).
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from cwpro.emulator.wire import format_datetime

Document = dict[str, Any]
"""A link (or a nested object of one) as stored: plain dicts, datetimes as aware UTC."""

LINK_TYPES: Final = ("public", "private", "secure")
OBJECT_ID: Final = re.compile(r"[0-9a-fA-F]{24}")
UTC: Final = datetime.timezone.utc

Check = Callable[[Any], "str | None"]
"""A value check: None when the value is fine, else the problem (`"must be a boolean"`)."""


def check_bool(value: Any) -> str | None:
    """JSON `true`/`false` only."""
    return None if isinstance(value, bool) else "must be a boolean"


def check_optional_str(value: Any) -> str | None:
    """A string or `null`."""
    return None if value is None or isinstance(value, str) else "must be a string or null"


def check_str_list(value: Any) -> str | None:
    """An array of strings."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return None
    return "must be an array of strings"


def check_count(value: Any) -> str | None:
    """A non-negative JSON integer (booleans are not integers here)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    return "must be a non-negative integer"


def check_ip_list(value: Any) -> str | None:
    """An array of IP addresses or CIDR networks."""
    problem = check_str_list(value)
    if problem is not None:
        return problem
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not an IP address or CIDR network"
    return None


NESTED_SCHEMAS: Final[dict[str, dict[str, tuple[Check, Any]]]] = {
    "permissions": {
        "can_view_details": (check_bool, True),
        "can_add_comments": (check_bool, True),
        "can_upload_files": (check_bool, False),
        "can_view_history": (check_bool, True),
        "can_approve_reject": (check_bool, False),
    },
    "access_restrictions": {
        "allowed_ips": (check_ip_list, []),
        "max_uses": (check_count, 0),
        "password_protected": (check_bool, False),
        "require_email_verification": (check_bool, False),
    },
    "notification_settings": {
        "notify_on_access": (check_bool, False),
        "notify_on_comment": (check_bool, True),
        "notify_on_file_upload": (check_bool, True),
        "notification_recipients": (check_str_list, []),
    },
    "custom_branding": {
        "logo_url": (check_optional_str, None),
        "brand_color": (check_optional_str, None),
        "custom_domain": (check_optional_str, None),
        "footer_text": (check_optional_str, None),
    },
    "metadata": {
        "purpose": (check_optional_str, None),
        "tags": (check_str_list, []),
    },
}
"""Client-settable keys of each nested object: (check, default)."""

_FLAT_CHECKS: Final[tuple[tuple[str, Check], ...]] = (
    ("is_active", check_bool),
    ("company_namespace", check_str_list),
)


def defaults(name: str) -> Document:
    """A fresh copy of the defaults of nested object `name` (`"permissions"`, ...)."""
    return {key: copy.deepcopy(default) for key, (_check, default) in NESTED_SCHEMAS[name].items()}


def to_millis(moment: datetime.datetime) -> datetime.datetime:
    """`moment` in UTC, cut to whole milliseconds (a naive datetime is taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def parse_datetime(text: str) -> datetime.datetime | None:
    """An ISO 8601 date-time WITH a timezone (`Z` or `+hh:mm`) -> aware UTC datetime, else None.

    A date alone and a date-time without a timezone are refused: the published schema's
    date-times always carry one.
    """
    if len(text) < 16 or text[10] not in "Tt":
        return None
    candidate = text[:-1] + "+00:00" if text[-1] in "Zz" else text
    try:
        parsed = datetime.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return None if parsed.tzinfo is None else to_millis(parsed)


def jsonable(value: Any) -> Any:
    """A stored value as JSON data (datetimes as `2024-01-01T00:00:00.000Z`)."""
    if isinstance(value, datetime.datetime):
        return format_datetime(value)
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def _check_workorder(body: Mapping[str, Any], fields: Document, problems: list[str]) -> None:
    workorder = body.get("workorder")
    if workorder is None or workorder == "":
        problems.append("workorder: is required")
    elif not isinstance(workorder, str) or not OBJECT_ID.fullmatch(workorder):
        problems.append("workorder: must be a 24-hex-digit id")
    else:
        fields["workorder"] = workorder.lower()


def _check_expiry(expiry: Any, fields: Document, problems: list[str]) -> None:
    parsed = parse_datetime(expiry) if isinstance(expiry, str) else None
    if expiry is None or parsed is not None:
        fields["expiry_date"] = parsed
    else:
        problems.append("expiry_date: must be an ISO 8601 date-time with a timezone, or null")


def validate_body(body: Mapping[str, Any], *, creating: bool) -> tuple[Document, list[str]]:
    """Check a POST (`creating`) or PATCH body; return its recognised fields and the problems.

    Unknown and server-controlled fields are left out of the result (never an error).
    """
    fields: Document = {}
    problems: list[str] = []
    if creating or "workorder" in body:
        _check_workorder(body, fields, problems)
    if "link_type" in body:
        if body["link_type"] in LINK_TYPES:
            fields["link_type"] = body["link_type"]
        else:
            problems.append(f"link_type: must be one of {', '.join(LINK_TYPES)}")
    if "expiry_date" in body:
        _check_expiry(body["expiry_date"], fields, problems)
    for name, flat_check in _FLAT_CHECKS:
        _take(body, name, flat_check, fields, problems, label=name)
    for name, schema in NESTED_SCHEMAS.items():
        if name not in body:
            continue
        given = body[name]
        if not isinstance(given, dict):
            problems.append(f"{name}: must be an object")
            continue
        nested: Document = {}
        for key, (check, _default) in schema.items():
            _take(given, key, check, nested, problems, label=f"{name}.{key}")
        fields[name] = nested
    return fields, problems


def _take(
    given: Mapping[str, Any],
    key: str,
    check: Check,
    into: Document,
    problems: list[str],
    *,
    label: str,
) -> None:
    """Copy ``given[key]`` into ``into`` if it passes ``check``, else report it as ``label``."""
    if key not in given:
        return
    problem = check(given[key])
    if problem is None:
        into[key] = copy.deepcopy(given[key])
    else:
        problems.append(f"{label}: {problem}")
