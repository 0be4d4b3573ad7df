"""Signing in with an API key, and out. A refused key counts against the client address in the same table and
within the same limits as the Web Connector's refused passwords (``auth_failures_per_address`` within
``auth_window_seconds`` lock the address for ``auth_lockout_seconds``), under a key of its own (``pages:`` and
the address), so that neither door locks the other. A locked address is refused whatever key it sends, with the
same answer as a wrong key."""

from __future__ import annotations

import logging

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError

from qbwc_service import apikeys
from qbwc_service.api.context import ApiContext
from qbwc_service.apikeys import Principal
from qbwc_service.authentication import Authenticator, AuthLimits, address_key, door_key
from qbwc_service.web.base import PageRefused, local_path, pages_of, redirect, viewer
from qbwc_service.web.session import csrf_matches

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

REFUSED = "That API key is not valid (unknown, revoked or mistyped), or this address had too many refusals of late."


@router.get("/signin")
def signin_page(request: Request, next: str = "/") -> Response:
    pages = pages_of(request)
    visitor = pages.cookies.visitor(request)
    if visitor is not None and visitor.signed_in:
        return redirect(local_path(next))
    if not pages.cookies.usable:
        return pages.render(request, "signin.html", 503, csrf="", back_to=local_path(next), no_key=True)
    visitor = visitor or pages.cookies.anonymous()
    response = pages.render(request, "signin.html", csrf=visitor.csrf, back_to=local_path(next))
    pages.cookies.write(response, visitor)
    return response


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    pages = pages_of(request)
    if not pages.cookies.usable:
        raise PageRefused(503, "No secret key", "Set a secret key (QBWC_SECRET_KEY) to sign in to the pages.")
    form = await request.form()
    visitor = pages.cookies.visitor(request)
    if not csrf_matches(visitor, form.get("csrf")):
        raise PageRefused(403, "Refused", "This sign-in form has no valid CSRF token: reload the sign-in page and "
                          "try again.")
    assert visitor is not None
    key, back_to = str(form.get("key") or ""), local_path(str(form.get("next") or "/"))
    host = request.client.host if request.client else ""
    address = address_key(host)
    try:
        principal, locked = await anyio.to_thread.run_sync(_check, pages.context, key, door_key("pages", host))
    except DBAPIError as exc:
        raise PageRefused(503, "Database unavailable", "The database cannot be reached: try again soon.") from exc
    if principal is None:
        if not locked:
            log.warning("pages sign-in refused", extra={"address": address})
        return pages.render(request, "signin.html", 401, csrf=visitor.csrf, back_to=back_to, error=REFUSED)
    signed = pages.cookies.signed_in(principal.key_id, principal.name, principal.scope)
    log.info("pages sign-in", extra={"api_key": principal.name})
    response = redirect(back_to)
    pages.cookies.write(response, signed)
    return response


def _check(context: ApiContext, key: str, counted_as: str) -> tuple[Principal | None, bool]:
    """The key's holder, or None (counted as a refusal) when it is not valid or the address is locked; and whether
    the address was locked (its refusals are not logged one by one: the lockout's start is)."""
    limiter = Authenticator(AuthLimits.for_settings(context.settings))
    now = context.clock.now()
    with context.read() as db:
        locked = limiter.address_locked(db, counted_as, now)
        principal = apikeys.verify(db, key) if key.strip() else None  # the hash runs whether or not it is locked
    if principal is not None and not locked:
        if principal.last_used_at is None or now - principal.last_used_at >= apikeys.USE_NOTED_EVERY:
            with context.write() as db:
                apikeys.note_use(db, principal, context.clock)
        return principal, False
    with context.write() as db:
        if limiter.refuse_address(db, counted_as, now) is not None and not locked:
            log.warning("pages sign-in locked for a client address", extra={"address": counted_as})
    return None, locked


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    visitor = await viewer(request)
    form = await request.form()
    if not csrf_matches(visitor, form.get("csrf")):
        raise PageRefused(403, "Refused", "This form has no valid CSRF token: nothing was changed.")
    pages = pages_of(request)
    response = redirect("/signin")
    pages.cookies.clear(response)
    return response
