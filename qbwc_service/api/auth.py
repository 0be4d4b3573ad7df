"""Who may call the API: an API key in ``Authorization: Bearer KEY``; read-only keys read, admin keys do the rest.

The guard runs before anything else of the API (before a body is read or a route is looked up), so a request
without a valid key is answered 401 and changes nothing, and a read-only key's write is answered 403. Reads are
the safe methods (GET, HEAD, OPTIONS); everything else writes. :func:`authenticate` is the one check, for the
guard, for /metrics, and for the pages' sign-in to come (which may keep the key's name in a session cookie).
"""

from __future__ import annotations

import anyio
from fastapi.security import HTTPBearer
from sqlalchemy.exc import DBAPIError
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from qbwc_service import apikeys
from qbwc_service.api.context import ApiContext
from qbwc_service.api.problems import error_response
from qbwc_service.apikeys import Principal
from qbwc_service.db.enums import ApiScope
from qbwc_service.errors import AccessRefused, NotAuthenticated, NotPermitted

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(auto_error=False, scheme_name="apiKey", description=(
    "An API key, made by `qbwc-service apikey create NAME` (admin: everything) or `... --read-only` (reads): "
    "`Authorization: Bearer qbwc_...`. Writes (POST, PATCH, DELETE) need an admin key."))
"""Declares the scheme in the OpenAPI document; the guard is what enforces it."""


def authenticate(context: ApiContext, authorization: str | None) -> Principal:
    """The holder of the key in an Authorization header, or NotAuthenticated saying what is wrong."""
    if not authorization:
        raise NotAuthenticated("no API key: send one as `Authorization: Bearer KEY` (`qbwc-service apikey create "
                               "NAME` makes one)")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise NotAuthenticated("the Authorization header must read `Bearer KEY`")
    with context.read() as db:
        principal = apikeys.verify(db, credentials)
    if principal is None:
        raise NotAuthenticated("the API key is not valid: unknown, revoked or mistyped")
    if principal.last_used_at is None or context.clock.now() - principal.last_used_at >= apikeys.USE_NOTED_EVERY:
        with context.write() as db:
            apikeys.note_use(db, principal, context.clock)
    return principal


def permit(principal: Principal, method: str) -> None:
    if method not in SAFE_METHODS and principal.scope is not ApiScope.ADMIN:
        raise NotPermitted(str(principal.scope), str(ApiScope.ADMIN))


class ApiKeyGuard:
    """Every HTTP request to the wrapped app needs a valid key, and an admin key unless it only reads. The caller
    is left in ``request.state.principal``."""

    def __init__(self, app: ASGIApp, context: ApiContext, unguarded: tuple[str, ...] = ()) -> None:
        self.app, self.context = app, context
        self.unguarded = frozenset(unguarded)
        """Paths that authenticate themselves (the Fusion webhook's signature), for POST only."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"] == "POST" and scope.get("path") in self.unguarded):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        try:
            principal = await anyio.to_thread.run_sync(authenticate, self.context,
                                                       connection.headers.get("authorization"))
            permit(principal, scope["method"])
        except (AccessRefused, DBAPIError) as exc:
            await error_response(exc, connection.url.path)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
