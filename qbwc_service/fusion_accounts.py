"""Each connection's Fusion Operations account: its API's URL, how to sign in, and the secrets for it,
encrypted (qbwc_service.secretbox). The only writer of ``qbwc_fusion_accounts``.

:func:`open_client` builds the Fusion client of a connection: its token source (the bearer token, or OAuth
tokens shared by every process through :class:`DatabaseTokenStore`), and its account's request budget in the
database (qbwc_service.fusion.budget), keyed by the Fusion account once a test has named it, by the
connection until then.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.db.enums import EventKind, FusionAuthKind
from qbwc_service.db.models import Connection, Event, FusionAccount
from qbwc_service.errors import FusionNotConfigured, InvalidFusionAccount
from qbwc_service.fusion.auth import (
    DEFAULT_SCOPE,
    BearerToken,
    OAuthClient,
    OAuthTokens,
    StoredToken,
    TokenSource,
    default_token_url,
)
from qbwc_service.fusion.budget import DatabaseBudget, Rate
from qbwc_service.fusion.client import FusionClient
from qbwc_service.fusion.http import FusionHttp, RetryPolicy, Sleep
from qbwc_service.secretbox import SecretBox
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class FusionCredentials:
    """What an operator gives: the API's base URL and one way to sign in — a bearer ``token``; or an OAuth
    ``client_id`` with its ``client_secret`` (client credentials); or a ``refresh_token`` (with the client id,
    and its secret unless the client is public)."""

    base_url: str
    token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    token_url: str | None = None
    scope: str | None = None

    def __repr__(self) -> str:
        return (f"FusionCredentials(base_url={self.base_url!r}, kind={self.kind().value}, "
                f"client_id={self.client_id!r}, token_url={self.token_url!r})")

    def kind(self) -> FusionAuthKind:
        """Which way to sign in these are; InvalidFusionAccount when they are none or several."""
        if self.token and (self.client_id or self.client_secret or self.refresh_token):
            raise InvalidFusionAccount("token", "give either a token or OAuth client credentials, not both")
        if self.token:
            return FusionAuthKind.BEARER
        if self.refresh_token:
            if not self.client_id:
                raise InvalidFusionAccount("client_id", "a refresh token needs the OAuth client id it was issued to")
            return FusionAuthKind.REFRESH_TOKEN
        if self.client_id and self.client_secret:
            return FusionAuthKind.CLIENT_CREDENTIALS
        if self.client_id:
            raise InvalidFusionAccount("client_secret", "an OAuth client id needs its secret (or a refresh token)")
        raise InvalidFusionAccount("token", "give a token, an OAuth client id and secret, or a refresh token")


def configure(db: Session, connection: Connection, credentials: FusionCredentials, box: SecretBox,
              clock: Clock = SYSTEM_CLOCK) -> FusionAccount:
    """Store (or replace) the connection's Fusion account, secrets encrypted. Any access token in use is
    forgotten, and so is the account a test named."""
    kind = credentials.kind()
    base_url = check_url("url", credentials.base_url)
    token_url = check_url("token_url", credentials.token_url) if credentials.token_url else None
    if kind is not FusionAuthKind.BEARER and token_url is None:
        token_url = default_token_url(base_url)
    now = clock.now()
    account = find(db, connection.id)
    if account is None:
        account = FusionAccount(connection_id=connection.id, configured_at=now, token_version=0)
        db.add(account)
    account.base_url, account.auth_kind, account.token_url = base_url, kind, token_url
    account.client_id = credentials.client_id if kind is not FusionAuthKind.BEARER else None
    account.scope = (credentials.scope or DEFAULT_SCOPE) if kind is not FusionAuthKind.BEARER else None
    secret = credentials.token if kind is FusionAuthKind.BEARER else credentials.client_secret
    account.secret_sealed = box.seal(secret) if secret else None
    account.refresh_token_sealed = box.seal(credentials.refresh_token) if credentials.refresh_token else None
    account.access_token_sealed, account.access_expires_at = None, None
    account.token_version = (account.token_version or 0) + 1
    account.account_id = account.account_name = account.tested_at = account.test_outcome = None
    account.updated_at = now
    db.flush()
    db.add(Event(at=now, connection_id=connection.id, kind=EventKind.FUSION_CONFIGURED,
                 detail=f"{base_url} ({kind.value})"))
    log.info("Fusion account set up: %s (%s)", base_url, kind.value, extra={"connection": connection.name})
    return account


def check_url(field: str, url: str) -> str:
    """An http(s) URL; https unless the host is this computer (tokens never cross a network in clear)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidFusionAccount(field, f"{url!r} is not an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
        raise InvalidFusionAccount(field, f"{url!r} must be https (tokens are sent to it); http only for localhost")
    if parts.query or parts.fragment:
        raise InvalidFusionAccount(field, f"{url!r} must not have a query or fragment")
    return url.strip().rstrip("/")


def find(db: Session, connection_id: int) -> FusionAccount | None:
    return db.scalar(select(FusionAccount).where(FusionAccount.connection_id == connection_id))


def require(db: Session, connection: Connection) -> FusionAccount:
    account = find(db, connection.id)
    if account is None:
        raise FusionNotConfigured(connection.name)
    return account


def record_test(db: Session, account_row_id: int, when: datetime, outcome: str, account_id: str | None,
                account_name: str | None) -> None:
    """What the last test found; a named account keys the request budget from then on."""
    values: dict[str, object] = {"tested_at": when, "test_outcome": outcome}
    if account_id is not None:
        values |= {"account_id": account_id, "account_name": account_name}
    db.execute(update(FusionAccount).where(FusionAccount.id == account_row_id).values(**values))


def forget(db: Session, connection_id: int) -> None:
    db.execute(delete(FusionAccount).where(FusionAccount.connection_id == connection_id))


def budget_key(account: FusionAccount) -> str:
    """The request budget's key: the Fusion account (host and id) once known, else the connection."""
    parts = urlsplit(account.base_url)
    host = f"{parts.scheme}://{parts.netloc}".lower()
    if account.account_id:
        return f"{host}|account:{account.account_id}"
    return f"{host}|connection:{account.connection_id}"


class DatabaseTokenStore:
    """The OAuth tokens of one Fusion account row, encrypted, shared by every process."""

    def __init__(self, sessions: sessionmaker[Session], row_id: int, box: SecretBox, what: str) -> None:
        self.sessions, self.row_id, self.box, self.what = sessions, row_id, box, what

    def load(self) -> StoredToken:
        with self.sessions.begin() as db:
            row = db.execute(select(FusionAccount.access_token_sealed, FusionAccount.access_expires_at,
                                    FusionAccount.refresh_token_sealed, FusionAccount.token_version)
                             .where(FusionAccount.id == self.row_id)).one_or_none()
        if row is None:
            raise FusionNotConfigured(self.what)
        access, expires, refresh, version = row
        return StoredToken(self.box.open(access, f"the Fusion access token of {self.what}") if access else None,
                           expires,
                           self.box.open(refresh, f"the Fusion refresh token of {self.what}") if refresh else None,
                           version)

    def save(self, expected_version: int, access_token: str, expires_at: datetime,
             refresh_token: str | None) -> bool:
        values: dict[str, object] = {"access_token_sealed": self.box.seal(access_token),
                                     "access_expires_at": expires_at, "token_version": expected_version + 1}
        if refresh_token:
            values["refresh_token_sealed"] = self.box.seal(refresh_token)
        with self.sessions.begin() as db:
            saved = db.execute(update(FusionAccount)
                               .where(FusionAccount.id == self.row_id, FusionAccount.token_version == expected_version)
                               .values(**values).returning(FusionAccount.id)
                               .execution_options(synchronize_session=False)).first()
            return saved is not None


def open_client(sessions: sessionmaker[Session], connection: str, settings: Settings, *,
                clock: Clock = SYSTEM_CLOCK, sleep: Sleep | None = None, http: httpx.Client | None = None,
                retry: RetryPolicy | None = None) -> FusionClient:
    """The Fusion client of the connection named ``connection``. FusionNotConfigured without an account;
    SecretKeyMissing without a secret key."""
    from qbwc_service.connections import get_connection

    with sessions.begin() as db:
        found = get_connection(db, connection)
        account = require(db, found)
        db.expunge(account)
    box = SecretBox.from_settings(settings, "using the stored Fusion credentials")
    http = http or httpx.Client(timeout=settings.fusion_timeout_seconds)
    what = f"connection {connection!r}"
    secret = box.open(account.secret_sealed, f"the Fusion secret of {what}") if account.secret_sealed else None
    auth: TokenSource
    if account.auth_kind is FusionAuthKind.BEARER:
        if secret is None:
            raise FusionNotConfigured(connection)
        auth = BearerToken(secret)
    else:
        client = OAuthClient(account.token_url or default_token_url(account.base_url), account.client_id, secret,
                             account.scope or DEFAULT_SCOPE)
        auth = OAuthTokens(client, DatabaseTokenStore(sessions, account.id, box, what), clock, http,
                           refresh=account.auth_kind is FusionAuthKind.REFRESH_TOKEN)
    budget = DatabaseBudget(sessions, budget_key(account), Rate(settings.fusion_requests_per_minute,
                                                                settings.fusion_burst), clock)
    policy = retry or RetryPolicy(settings.fusion_max_attempts, settings.fusion_retry_backoff_seconds,
                                  max_wait_seconds=settings.fusion_max_wait_seconds)
    return FusionClient(FusionHttp(account.base_url, auth, budget=budget, retry=policy, clock=clock, http=http,
                                   connection=connection, sleep=sleep or time.sleep))


def set_webhook_secret(db: Session, connection: Connection, secret: str, box: SecretBox,
                       clock: Clock = SYSTEM_CLOCK) -> FusionAccount:
    """Store the shared secret Fusion signs the connection's webhooks with, encrypted."""
    account = require(db, connection)
    account.webhook_secret_sealed = box.seal(secret)
    account.updated_at = clock.now()
    db.add(Event(at=clock.now(), connection_id=connection.id, kind=EventKind.FUSION_CONFIGURED,
                 detail="webhook secret set"))
    log.info("Fusion webhook secret set", extra={"connection": connection.name})
    return account
