"""Workorder portal links in the cwpro emulator: an in-memory store and its aiohttp routes.

The routes follow the Workorder Portal Link API reference and its published OpenAPI file
(`/workorder-portal-link`, page-number paging, `{"success": ..., "data": ...}` bodies) plus
`GET /portal/{token}`, the public page a link opens. Authentication, latency and fault injection
are applied by the emulator's middleware. One module per concern:

- `schema.py`: client-settable fields, their checks and defaults, date-times;
- `query.py`: the list route's query string (`LinkQuery`);
- `store.py`: the store (`PortalLinkStore`) and a page of results (`LinkPage`);
- `seed.py`: varied seeded links;
- `errors.py`, `routes.py`: the HTTP answers.

Where the published spec is explicit, the emulator is strict (the tests pin every rule):

- DELETE answers 200 `{"success": true}` with no `data`; the link's token stops resolving.
- DELETE and the three action POSTs (regenerate, activate, deactivate) declare no request body:
  any body byte (`{}` and `null` included) is a 400 "Request body is not allowed for this
  operation". A `Content-Type` header with an empty body is fine (there is no body).
- Query booleans are lowercase `true`/`false`; array filters repeat their key
  (`_id=a&_id=b`); the bracket form `_id[]=` and unknown parameters are 400s.
- Date-times carry a timezone: responses use `2024-01-01T00:00:00.000Z`; an `expiry_date`
  without one (or a date alone) is a 422.
- 400 and 422 bodies are exactly `{"success": false, "error": "..."}`; the details (one string
  per problem) travel only in the `X-Error-Details` header, a JSON array of ASCII strings
  (header name inferred). 401/403/404/5xx bodies have the same shape.

Decisions taken where the reference is silent:

- Unknown fields, at the top level or inside the nested objects, are ignored and not stored, as a
  strict Mongoose schema does. So are the server-controlled fields (`_id`, `link_token`,
  `full_url`, `usage_stats`, `createdAt`, `modifiedAt`, `SVClient`, `__v`, `metadata.created_by`).
- Nested objects given to POST are merged into the defaults; PATCH merges them key by key into
  the stored object (`{"permissions": {"can_upload_files": true}}` keeps the other permissions).
  Arrays are always replaced whole. `"expiry_date": null` removes the expiry.
- PATCH may repeat the link's current `workorder`; any other `workorder` is a 422.
- Every successful PATCH, regenerate, activate and deactivate bumps `modifiedAt` and `__v`, even
  when nothing changed. A portal view changes only `usage_stats`.
- An empty POST/PATCH body sent as JSON counts as `{}` (as Express' JSON body parser does).
- `expiry_date` may lie in the past (handy to test expired links).
- `access_restrictions.allowed_ips` entries must be IP addresses or CIDR networks.
- `GET /portal/{token}` answers 404 for an unknown, inactive, expired or used-up (`max_uses` > 0
  reached) link and for a caller outside `allowed_ips`. `password_protected` and
  `require_email_verification` are stored but not enforced. The access log keeps the latest
  `ACCESS_LOG_LIMIT` entries.
"""

from cwpro.emulator.portal_links.errors import ApiError
from cwpro.emulator.portal_links.query import (
    DEFAULT_PER_PAGE,
    DEFAULT_SORT,
    MAX_PER_PAGE,
    SORTABLE_FIELDS,
    LinkQuery,
    SortKey,
    parse_list_query,
)
from cwpro.emulator.portal_links.routes import BASE_PATH, portal_link_routes
from cwpro.emulator.portal_links.schema import LINK_TYPES, Document, parse_datetime
from cwpro.emulator.portal_links.store import (
    ACCESS_LOG_LIMIT,
    DEFAULT_CREATED_BY,
    PORTAL_PATH,
    TOKEN_PREFIX,
    LinkPage,
    PortalLinkStore,
)

__all__ = [
    "ACCESS_LOG_LIMIT",
    "BASE_PATH",
    "DEFAULT_CREATED_BY",
    "DEFAULT_PER_PAGE",
    "DEFAULT_SORT",
    "LINK_TYPES",
    "MAX_PER_PAGE",
    "PORTAL_PATH",
    "SORTABLE_FIELDS",
    "TOKEN_PREFIX",
    "ApiError",
    "Document",
    "LinkPage",
    "LinkQuery",
    "PortalLinkStore",
    "SortKey",
    "parse_datetime",
    "parse_list_query",
    "portal_link_routes",
]
