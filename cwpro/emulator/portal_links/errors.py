"""The portal-link API's error answer, raised anywhere below the routes."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from cwpro.emulator.wire import portal_error_response


class ApiError(Exception):
    """An error answer in the portal-link API's shape.

    The body is ``{"success": false, "error": message}``; ``details`` (one string per problem)
    go only into the ``X-Error-Details`` header, as the published OpenAPI file says.
    """

    def __init__(self, status: int, message: str, details: Sequence[str] = ()) -> None:
        """Keep the status, the one-line message and the per-problem details."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = tuple(details)

    def response(self) -> web.Response:
        """The HTTP response of this error."""
        return portal_error_response(self.status, self.message, self.details)
