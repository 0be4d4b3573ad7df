"""Who is signed in to the pages: a cookie signed with ``itsdangerous`` (HMAC-SHA256) under a key derived from the
``secret_key`` setting, holding the API key's id, name and scope and the session's CSRF token. Nothing secret is in
it (the API key itself never is): it is signed so that it cannot be made or changed, and it expires.

- The cookie is HttpOnly, SameSite=Lax, Secure when ``public_url`` is https, and lasts ``pages_session_seconds``
  (the signature's age is checked too, so an old cookie replayed after its expiry is refused).
- Every request checks that the key still exists: revoking an API key signs its holder out at once.
- A visitor not signed in yet gets a cookie with a CSRF token alone, for the sign-in form.
- Every POST carries the session's CSRF token in a hidden field ``csrf``; one without it, or with another, is
  refused (403) before anything is done. SameSite=Lax alone already keeps other sites' forms from sending the
  cookie; the token also holds where a browser does not honour SameSite.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from qbwc_service import apikeys
from qbwc_service.api.context import ApiContext
from qbwc_service.db.enums import ApiScope
from qbwc_service.errors import SecretKeyMissing
from qbwc_service.secretbox import derived_keys

COOKIE = "qbwc_pages"
SIGNING_LABEL = b"qbwc-service pages: session cookies"


@dataclass(frozen=True)
class Visitor:
    """Who sent a request: ``name`` and ``scope`` of the API key signed in with (None: nobody), and the CSRF
    token of the session."""

    csrf: str
    name: str | None = None
    scope: ApiScope | None = None
    key_id: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.name is not None

    @property
    def may_act(self) -> bool:
        return self.scope is ApiScope.ADMIN


class SessionCookies:
    """Reads and writes the pages' cookie. ``usable`` is False when no ``secret_key`` is set: nothing can be
    signed, so nobody can sign in (the sign-in page says so)."""

    def __init__(self, context: ApiContext) -> None:
        self.context = context
        self.max_age = context.settings.pages_session_seconds
        self.secure = context.settings.public_url.startswith("https://")
        try:
            keys = derived_keys(context.settings, "signing in to the pages", SIGNING_LABEL)
        except SecretKeyMissing:
            self.serializer: URLSafeTimedSerializer | None = None
        else:
            # itsdangerous signs with the last key and accepts them all: the key that encrypts comes first in
            # secret_key, so it goes last here.
            self.serializer = URLSafeTimedSerializer(list(reversed(keys)), salt="qbwc-pages-session")

    @property
    def usable(self) -> bool:
        return self.serializer is not None

    def visitor(self, request: Request) -> Visitor | None:
        """The request's visitor from its cookie: None when it has none, or one that is forged, expired, or names
        an API key that no longer exists."""
        raw = request.cookies.get(COOKIE)
        if raw is None or self.serializer is None:
            return None
        try:
            data: Any = self.serializer.loads(raw, max_age=self.max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        key_id = data.get("key")
        if key_id is None:
            return Visitor(data["csrf"])
        with self.context.read() as db:
            found = apikeys.holder(db, str(key_id))
        if found is None:
            return None
        return Visitor(data["csrf"], found.name, found.scope, found.key_id)

    def anonymous(self) -> Visitor:
        return Visitor(secrets.token_urlsafe(24))

    def signed_in(self, key_id: str, name: str, scope: ApiScope) -> Visitor:
        """A new session (a new CSRF token too: a token seen before signing in is not kept)."""
        return Visitor(secrets.token_urlsafe(24), name, scope, key_id)

    def write(self, response: Response, visitor: Visitor) -> None:
        assert self.serializer is not None
        data: dict[str, str] = {"csrf": visitor.csrf}
        if visitor.key_id is not None:
            data["key"] = visitor.key_id
        response.set_cookie(COOKIE, self.serializer.dumps(data), max_age=self.max_age, path="/",
                            secure=self.secure, httponly=True, samesite="lax")

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", secure=self.secure, httponly=True, samesite="lax")


def csrf_matches(visitor: Visitor | None, presented: object) -> bool:
    return (visitor is not None and isinstance(presented, str) and bool(presented)
            and hmac.compare_digest(visitor.csrf.encode(), presented.encode()))
