"""What cwpro assumes about the wire, in one place.

The API documents (``shared/API.md`` and its seeds) leave some things unsaid. Every such
assumption is a constant here, marked *(inferred)*, so that it is a one-line change when the real
API turns out to differ. The resource declarations (``cwpro/resources/``) take their paths from
this module; the emulator keeps its own copy on purpose (it must be able to disagree with a
client bug), and ``tests/test_routes.py`` checks that the two agree.
"""

from __future__ import annotations

from typing import Final

#: Named environments and their base URLs.
ENVIRONMENTS: Final[dict[str, str]] = {
    "sandbox": "https://staging-cwp-api.cloudworkpro.com",
    "production": "https://cwp-api.cloudworkpro.com",  # (inferred)
}
DEFAULT_ENVIRONMENT: Final = "sandbox"

#: Environment variables read when a setting is not given in code.
ENV_CLIENT_ID: Final = "CWPRO_CLIENT_ID"
ENV_CLIENT_SECRET: Final = "CWPRO_CLIENT_SECRET"  # noqa: S105 - a variable name, not a secret
ENV_API_KEY: Final = "CWPRO_API_KEY"
ENV_TOKEN: Final = "CWPRO_TOKEN"  # noqa: S105
ENV_BASE_URL: Final = "CWPRO_BASE_URL"
ENV_ENVIRONMENT: Final = "CWPRO_ENVIRONMENT"

# --- authentication -------------------------------------------------------------------------
TOKEN_PATH: Final = "/auth/token"  # noqa: S105
#: The token request body's field names. (inferred)
TOKEN_REQUEST_FIELDS: Final = ("client_id", "client_secret")
#: Field names tried, in order, for the token in the response's ``data``. (``token`` inferred)
TOKEN_RESPONSE_FIELDS: Final = ("access_token", "token")
#: Lifetime assumed when the token response has no ``expires_in``. (inferred)
DEFAULT_TOKEN_LIFETIME: Final = 3600.0
#: Header carrying the API key, when one is configured. (inferred)
API_KEY_HEADER: Final = "x-api-key"

# --- CWP resources --------------------------------------------------------------------------
WORKORDERS: Final = "/workorders"
WORKORDER: Final = "/workorders/{id}"
WORKORDER_STATUS: Final = "/workorders/{id}/status"  # (inferred path)
WORKTYPES: Final = "/worktypes"
WORKTYPE: Final = "/worktypes/{id}"  # (inferred)
SITES: Final = "/sites"
SITE: Final = "/sites/{id}"
DOCUMENTS: Final = "/workorders/{id}/resources/{resource_name}"
WEBHOOK_NOTIFICATIONS: Final = "/webhooks"
WEBHOOK_NOTIFICATION: Final = "/webhooks/{id}"  # (inferred)

#: Query value that expands references on ``GET /workorders/{id}``.
EXPAND_PARAM: Final = ("summary", "full")
#: Multipart field name of an uploaded document.
UPLOAD_FIELD: Final = "file"
#: Query parameter filtering webhook notifications by event name. (inferred)
WEBHOOK_EVENT_PARAM: Final = "event"
#: The field webhook notifications are dated by (used for ``since``/``until``).
WEBHOOK_DATE_FIELD: Final = "created_date"

# --- portal links ---------------------------------------------------------------------------
#: The portal-link API lives on the same host as the CWP API. (inferred)
PORTAL_LINKS: Final = "/workorder-portal-link"
PORTAL_LINK: Final = "/workorder-portal-link/{id}"
PORTAL_LINK_REGENERATE: Final = "/workorder-portal-link/{id}/regenerate"
PORTAL_LINK_ACTIVATE: Final = "/workorder-portal-link/{id}/activate"
PORTAL_LINK_DEACTIVATE: Final = "/workorder-portal-link/{id}/deactivate"
#: Header carrying a portal-link 400/422's details (a JSON array of strings); the published
#: OpenAPI file keeps details out of the body. (inferred name)
PORTAL_ERROR_DETAILS_HEADER: Final = "X-Error-Details"
PORTAL_PAGE_SIZE_MAX: Final = 100
PORTAL_PAGE_SIZE_DEFAULT: Final = 25

# --- cursor pagination ----------------------------------------------------------------------
CURSOR_PAGE_SIZE_DEFAULT: Final = 100
#: Smallest step of a datetime on the wire (Mongo dates hold milliseconds). (inferred)
DATETIME_RESOLUTION_MS: Final = 1
#: ``pagination.totalResults`` counts the items matching the query's filters (``between``
#: included), not the whole collection: export planning counts a range with a one-item page.
#: When it is missing, planning falls back to equal slices of time. (inferred)
TOTAL_RESULTS_IS_FILTERED: Final = True
