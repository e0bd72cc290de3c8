"""``POST /auth/token``: client credentials in, bearer token out."""

from __future__ import annotations

from aiohttp import web

from cwpro.emulator.context import context_of
from cwpro.emulator.wire import HttpError, ok, read_json_object


async def issue_token(request: web.Request) -> web.Response:
    """Answer a token for valid ``{"client_id", "client_secret"}`` (401 otherwise)."""
    tokens = context_of(request).tokens
    body = await read_json_object(request)
    if not tokens.credentials_match(body.get("client_id"), body.get("client_secret")):
        raise HttpError(
            401, "Invalid client credentials", "The client_id / client_secret pair is not valid"
        )
    token, expires_in = tokens.issue()
    return ok({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


def auth_routes() -> list[web.RouteDef]:
    """The authentication route."""
    return [web.post("/auth/token", issue_token)]
