"""Keys to the HTTP API: made, listed, revoked, and checked. The only writer of ``qbwc_api_keys``.

A key reads ``qbwc_<key id>_<secret>``: the key id (64 random bits, kept in clear) finds its row, and the secret
(192 random bits) is kept only as a salted SHA-256, compared in constant time, as connection tokens are. A key
is shown once, when it is made. Its scope is ``read-only`` (reads) or ``admin`` (everything an operator does).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qbwc_service.clock import Clock
from qbwc_service.connections import hash_token, token_matches
from qbwc_service.db.enums import ApiScope, EventKind
from qbwc_service.db.models import ApiKey, Event
from qbwc_service.errors import ApiKeyExists, ApiKeyNotFound, InvalidName

log = logging.getLogger(__name__)

PREFIX = "qbwc"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
_KEY = re.compile(rf"^{PREFIX}_(?P<key_id>[0-9a-f]{{16}})_(?P<secret>[A-Za-z0-9_-]{{32}})$")
USE_NOTED_EVERY = timedelta(hours=1)
"""A key's last use is written at most this often: reading through the API writes nothing more."""


@dataclass(frozen=True)
class NewApiKey:
    """A key just made: ``key`` is shown this once."""

    name: str
    scope: ApiScope
    key: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: the name and scope of the key they presented."""

    name: str
    scope: ApiScope
    key_id: str
    last_used_at: datetime | None


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise InvalidName(name, f"API key name {name!r} must start with a letter or digit and hold only letters, "
                          "digits, spaces, '.', '_' or '-' (at most 100)")


def create(db: Session, name: str, scope: ApiScope, clock: Clock) -> NewApiKey:
    check_name(name)
    if db.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ApiKeyExists(name)
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(24)
    now = clock.now()
    db.add(ApiKey(name=name, key_id=key_id, key_hash=hash_token(secret), scope=scope, created_at=now))
    try:
        db.flush()
    except IntegrityError as exc:
        raise ApiKeyExists(name) from exc
    db.add(Event(at=now, kind=EventKind.API_KEY_CREATED, detail=f"{name} ({scope})"))
    log.info("API key created", extra={"api_key": name, "scope": str(scope)})
    return NewApiKey(name, scope, f"{PREFIX}_{key_id}_{secret}")


def list_keys(db: Session) -> list[ApiKey]:
    return list(db.scalars(select(ApiKey).order_by(ApiKey.name)))


def revoke(db: Session, name: str, clock: Clock) -> ApiKey:
    """The key stops working at once; its row goes, and an event says so."""
    key = db.scalar(select(ApiKey).where(ApiKey.name == name))
    if key is None:
        raise ApiKeyNotFound(name)
    db.delete(key)
    db.add(Event(at=clock.now(), kind=EventKind.API_KEY_REVOKED, detail=f"{name} ({key.scope})"))
    log.info("API key revoked", extra={"api_key": name})
    return key


def verify(db: Session, presented: str) -> Principal | None:
    """The key's holder, or None for a key that is malformed, unknown, revoked or mistyped. Every answer costs one
    hash and one constant-time comparison, so timing tells nothing of the secret."""
    parsed = _KEY.match(presented.strip())
    key = db.scalar(select(ApiKey).where(ApiKey.key_id == parsed["key_id"])) if parsed else None
    matches = token_matches(parsed["secret"] if parsed else presented, key.key_hash if key else None)
    if key is None or not matches:
        return None
    return Principal(key.name, ApiScope(key.scope), key.key_id, key.last_used_at)


def holder(db: Session, key_id: str) -> Principal | None:
    """The holder of the key ``key_id`` (a session signed in with it earlier), or None once it is revoked."""
    key = db.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    return None if key is None else Principal(key.name, ApiScope(key.scope), key.key_id, key.last_used_at)


def note_use(db: Session, principal: Principal, clock: Clock) -> None:
    """Remember when a key was last used, at most once per USE_NOTED_EVERY."""
    now = clock.now()
    if principal.last_used_at is None or now - principal.last_used_at >= USE_NOTED_EVERY:
        db.execute(update(ApiKey).where(ApiKey.key_id == principal.key_id).values(last_used_at=now))
