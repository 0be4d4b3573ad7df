"""Signing in to Fusion Operations: the token each request carries (``Authorization: Bearer ...``).

- :class:`BearerToken`: a token the operator gave, used as it is (it cannot be renewed: a 401 is final).
- :class:`OAuthTokens`: an OAuth client (client credentials) or a refresh token (3-legged, what the v2 API
  wants [C]) exchanged at the token endpoint for access tokens, renewed ``renew_before`` their expiry, and
  once more when Fusion answers 401. The token in use lives in a :class:`TokenStore`, so that every process
  shares it; the store keeps a rotated refresh token too (APS refresh tokens are single-use).

The token endpoint follows OAuth 2.0 (RFC 6749) as Autodesk Platform Services does [C for APS]: a form POST of
``grant_type`` (``client_credentials`` or ``refresh_token``), ``scope``, the client authenticated with HTTP
Basic (or ``client_id`` in the form when there is no secret), answered with ``access_token``, ``expires_in``
and, for a refresh, a new ``refresh_token``.

No token or secret is ever logged or put in an error message.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from qbwc_service.clock import Clock
from qbwc_service.fusion.errors import FusionAuthFailed, FusionBadAnswer, FusionUnavailable

log = logging.getLogger(__name__)

APS_TOKEN_URL = "https://developer.api.autodesk.com/authentication/v2/token"
"""Autodesk Platform Services' token endpoint [C], where the v2 API's tokens come from."""
TOKEN_PATH = "/authentication/v2/token"
DEFAULT_SCOPE = "data:read data:write"  # the v2 API's scopes [C]


def default_token_url(base_url: str) -> str:
    """APS's token endpoint for Fusion's own hosts (``*.autodesk.com``); for any other host (a simulator, a
    proxy) the same path on that host."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if host == "autodesk.com" or host.endswith(".autodesk.com"):
        return APS_TOKEN_URL
    return f"{parts.scheme}://{parts.netloc}{TOKEN_PATH}"


class TokenSource(Protocol):
    def token(self) -> str:
        """The access token to send now."""
        ...

    def renew(self, rejected: str) -> bool:
        """Fusion refused ``rejected`` (401): get another if possible (True), else False."""
        ...


class BearerToken:
    """A fixed token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token

    def renew(self, rejected: str) -> bool:
        return False

    def __repr__(self) -> str:
        return "BearerToken(***)"


@dataclass(frozen=True)
class StoredToken:
    """What a token store holds: the access token in use (None before the first), when it expires, the refresh
    token to use next, and the version of this content (it grows with each save)."""

    access_token: str | None
    expires_at: datetime | None
    refresh_token: str | None
    version: int

    def __repr__(self) -> str:
        return f"StoredToken(expires_at={self.expires_at!r}, version={self.version})"


class TokenStore(Protocol):
    def load(self) -> StoredToken: ...

    def save(self, expected_version: int, access_token: str, expires_at: datetime,
             refresh_token: str | None) -> bool:
        """Keep a new access token (and refresh token, when one came), unless another process saved one since
        ``expected_version`` was loaded: then nothing changes and the answer is False."""
        ...


class MemoryTokenStore:
    """A token store in this process."""

    def __init__(self, refresh_token: str | None = None) -> None:
        self._stored = StoredToken(None, None, refresh_token, 0)
        self._lock = threading.Lock()

    def load(self) -> StoredToken:
        return self._stored

    def save(self, expected_version: int, access_token: str, expires_at: datetime,
             refresh_token: str | None) -> bool:
        with self._lock:
            if self._stored.version != expected_version:
                return False
            self._stored = StoredToken(access_token, expires_at, refresh_token or self._stored.refresh_token,
                                       expected_version + 1)
            return True


@dataclass(frozen=True)
class OAuthClient:
    """The OAuth client, and the token endpoint. ``client_secret`` None: a public client (PKCE)."""

    token_url: str
    client_id: str | None
    client_secret: str | None
    scope: str = DEFAULT_SCOPE

    def __repr__(self) -> str:
        return f"OAuthClient(token_url={self.token_url!r}, client_id={self.client_id!r}, client_secret=***)"


class OAuthTokens:
    """Access tokens from a token endpoint, renewed before they expire. ``refresh``: use the store's refresh
    token (3-legged); else the client credentials grant."""

    def __init__(self, client: OAuthClient, store: TokenStore, clock: Clock, http: httpx.Client, *,
                 refresh: bool, renew_before: timedelta = timedelta(minutes=2)) -> None:
        self.client, self.store, self.clock, self.http = client, store, clock, http
        self.refresh, self.renew_before = refresh, renew_before
        self._lock = threading.Lock()

    def token(self) -> str:
        stored = self.store.load()
        if stored.access_token and stored.expires_at and stored.expires_at - self.renew_before > self.clock.now():
            return stored.access_token
        return self._obtain(stored)

    def renew(self, rejected: str) -> bool:
        stored = self.store.load()
        if stored.access_token and stored.access_token != rejected:
            return True  # another process renewed it already
        self._obtain(stored)
        return True

    def _obtain(self, stored: StoredToken) -> str:
        with self._lock:
            now = self.clock.now()
            try:
                answer = self._request(stored)
            except FusionAuthFailed:
                latest = self.store.load()
                if latest.version != stored.version and latest.access_token:
                    return latest.access_token  # another process used the refresh token first, and saved its own
                raise
            access = answer.get("access_token")
            if not isinstance(access, str) or not access:
                raise FusionBadAnswer("no access_token", method="POST", url=self.client.token_url)
            try:
                lifetime = float(answer.get("expires_in", 3600))
            except (TypeError, ValueError):
                lifetime = 3600.0
            refresh_token = answer.get("refresh_token") if isinstance(answer.get("refresh_token"), str) else None
            if self.store.save(stored.version, access, now + timedelta(seconds=lifetime), refresh_token):
                log.info("new Fusion access token, valid %d s", lifetime)
                return access
            latest = self.store.load()  # another process saved a token meanwhile: use that one
            return latest.access_token or access

    def _request(self, stored: StoredToken) -> dict[str, Any]:
        form = {"scope": self.client.scope}
        if self.refresh:
            if not stored.refresh_token:
                raise FusionAuthFailed("no refresh token is stored for Fusion: set the connection's credentials again",
                                       method="POST", url=self.client.token_url)
            form |= {"grant_type": "refresh_token", "refresh_token": stored.refresh_token}
        else:
            form |= {"grant_type": "client_credentials"}
        auth: httpx.Auth | None = None
        if self.client.client_secret is not None and self.client.client_id is not None:
            auth = httpx.BasicAuth(self.client.client_id, self.client.client_secret)
        elif self.client.client_id is not None:
            form["client_id"] = self.client.client_id
        url = self.client.token_url
        try:
            response = self.http.post(url, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT,
                                      headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise FusionUnavailable(f"the Fusion token endpoint {url} could not be reached: {type(exc).__name__}",
                                    attempts=1, method="POST", url=url) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise FusionUnavailable(f"the Fusion token endpoint {url} answered {response.status_code}",
                                    attempts=1, method="POST", url=url, status=response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            said = _oauth_message(body) or response.reason_phrase
            raise FusionAuthFailed(f"the Fusion token endpoint refused the credentials ({response.status_code}): "
                                   f"{said}", method="POST", url=url, status=response.status_code,
                                   fusion_message=said)
        if not isinstance(body, dict):
            raise FusionBadAnswer("not a JSON object", method="POST", url=url, status=response.status_code)
        return body


def _oauth_message(body: object) -> str | None:
    if not isinstance(body, dict):
        return None
    parts = [str(body[key]) for key in ("error", "error_description", "developerMessage") if body.get(key)]
    return ": ".join(parts)[:300] or None
