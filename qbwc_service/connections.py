"""Connections: creating them, their tokens (stored hashed), and their .qwc file."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sys
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfoNotFoundError

from sqlalchemy import delete as delete_rows
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from qbwc_service import automation_state, deliveries, fusion_accounts, links, queue
from qbwc_service.clock import SYSTEM_CLOCK, Clock, local_date
from qbwc_service.db.enums import EventKind
from qbwc_service.db.models import Connection, Delivery, Event, Job, Link, WebConnectorSession
from qbwc_service.errors import ConnectionExists, ConnectionNotFound, InvalidName, SettingsError
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
_HASH_SCHEME = "sha256"
# Tokens are 192 random bits, so a fast salted hash is as strong as a slow one: the
# cost of a password KDF protects guessable secrets, and these are not guessable.
_DUMMY_HASH = f"{_HASH_SCHEME}$00000000000000000000000000000000${'0' * 64}"


@dataclass(frozen=True)
class NewToken:
    connection: Connection
    token: str


def hash_token(token: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.sha256(f"{salt}:{token}".encode()).hexdigest()
    return f"{_HASH_SCHEME}${salt}${digest}"


def token_matches(token: str, stored: str | None) -> bool:
    """Constant-time comparison; an absent hash still costs one hash, so timing tells nothing."""
    reference = stored or _DUMMY_HASH
    _scheme, salt, _digest = reference.split("$", 2)
    same = hmac.compare_digest(hash_token(token, salt), reference)
    return same and stored is not None


def check_name(name: str) -> None:
    """A connection name: a letter or digit, then letters, digits, spaces, '.', '_' or '-' (at most 100)."""
    if not _NAME.match(name):
        raise InvalidName(name,
            f"connection name {name!r} must start with a letter or digit and hold only letters, "
            "digits, spaces, '.', '_' or '-' (at most 100)"
        )


def create_connection(db: Session, name: str, clock: Clock = SYSTEM_CLOCK) -> NewToken:
    check_name(name)
    username = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-") or "connection"
    if db.scalar(select(Connection.id).where(Connection.name == name)) is not None:
        raise ConnectionExists(name)
    if db.scalar(select(Connection.id).where(Connection.username == username)) is not None:
        username = f"{username}-{secrets.token_hex(3)}"
    token = _new_token()
    now = clock.now()
    connection = Connection(
        name=name,
        username=username,
        token_hash=hash_token(token),
        token_created_at=now,
        owner_id=_guid(),
        file_id=_guid(),
        options={},
        created_at=now,
    )
    db.add(connection)
    try:
        db.flush()
    except IntegrityError as exc:
        raise ConnectionExists(name) from exc
    db.add(Event(at=now, connection_id=connection.id, kind=EventKind.CONNECTION_CREATED, detail=name))
    log.info("connection created", extra={"connection": name})
    return NewToken(connection, token)


def rotate_token(db: Session, name: str, clock: Clock = SYSTEM_CLOCK) -> NewToken:
    """A new token; the old one stops working at once. Also lifts a revocation."""
    connection = get_connection(db, name)
    token = _new_token()
    connection.token_hash = hash_token(token)
    connection.token_created_at = clock.now()
    connection.revoked_at = None
    _end_live_session(connection)
    db.add(Event(at=clock.now(), connection_id=connection.id, kind=EventKind.TOKEN_ROTATED))
    return NewToken(connection, token)


def revoke(db: Session, name: str, clock: Clock = SYSTEM_CLOCK) -> Connection:
    """The token stops working; the Web Connector gets 'nvu' until a new token is made."""
    connection = get_connection(db, name)
    connection.token_hash = None
    connection.revoked_at = clock.now()
    _end_live_session(connection)
    db.add(Event(at=clock.now(), connection_id=connection.id, kind=EventKind.TOKEN_REVOKED))
    return connection


def unpin_company_file(db: Session, connection: Connection, reason: str, clock: Clock = SYSTEM_CLOCK) -> str | None:
    """Forget the pinned company file and end the live session (which would pin it again): the next session
    pins the file it opens. Returns the path that was pinned (None when nothing was). Links are kept."""
    pinned = connection.company_file
    if pinned is None:
        return None
    connection.company_file = None
    _end_live_session(connection)
    db.add(Event(at=clock.now(), connection_id=connection.id, kind=EventKind.COMPANY_FILE_UNPINNED,
                 detail=f"{pinned} ({reason})"))
    log.info("company file unpinned", extra={"connection": connection.name, "reason": reason})
    return pinned


def get_connection(db: Session, name: str) -> Connection:
    connection = db.scalar(select(Connection).where(Connection.name == name))
    if connection is None:
        raise ConnectionNotFound(name)
    return connection


def list_connections(db: Session) -> list[Connection]:
    return list(db.scalars(select(Connection).order_by(Connection.name)))


def names_by_id(db: Session) -> dict[int, str]:
    """Every connection's name by its id (what lists of jobs and deliveries show), read without the rows."""
    return {connection_id: name for connection_id, name in db.execute(select(Connection.id, Connection.name))}


def find_by_username(db: Session, username: str) -> Connection | None:
    return db.scalar(select(Connection).where(Connection.username == username))


# ---------------------------------------------------------------- renaming and deleting


@dataclass(frozen=True)
class Holdings:
    """What a connection holds: its rows in each table (deliveries with the stream marks of its pulls)."""

    jobs: int
    sessions: int
    events: int
    links: int
    deliveries: int


def holdings(db: Session, connection: Connection) -> Holdings:
    def count(model: type[Job | WebConnectorSession | Event | Link | Delivery]) -> int:
        return db.scalar(select(func.count()).select_from(model).where(model.connection_id == connection.id)) or 0

    return Holdings(jobs=count(Job), sessions=count(WebConnectorSession), events=count(Event), links=count(Link),
                    deliveries=count(Delivery))


def rename(db: Session, connection: Connection, new_name: str, clock: Clock = SYSTEM_CLOCK) -> Connection:
    """A new name for the connection. Its Web Connector username, token and company file stay as they are, so
    the Web Connector goes on working."""
    check_name(new_name)
    if new_name == connection.name:
        return connection
    if db.scalar(select(Connection.id).where(Connection.name == new_name)) is not None:
        raise ConnectionExists(new_name)
    old_name, connection.name = connection.name, new_name
    db.add(Event(at=clock.now(), connection_id=connection.id, kind=EventKind.CONNECTION_RENAMED,
                 detail=f"{old_name} -> {new_name}"))
    log.info("connection renamed", extra={"connection": new_name, "old_name": old_name})
    return connection


def delete(db: Session, connection: Connection, clock: Clock = SYSTEM_CLOCK) -> Holdings:
    """Delete a connection and all it holds (jobs, sessions, events, links, pulled records and stream marks, its
    Fusion account) in the caller's transaction, leaving one event (with no connection) that says so. Whether its
    unfinished jobs may go is the caller's decision. Returns what was deleted."""
    held = holdings(db, connection)
    deliveries.forget_all(db, connection.id)
    links.forget_all(db, connection.id)
    fusion_accounts.forget(db, connection.id)
    automation_state.forget_all(db, connection.id)
    queue.delete_jobs_of(db, connection.id)
    db.execute(delete_rows(Event).where(Event.connection_id == connection.id))
    db.execute(delete_rows(WebConnectorSession).where(WebConnectorSession.connection_id == connection.id))
    db.delete(connection)
    db.flush()
    db.add(Event(at=clock.now(), connection_id=None, kind=EventKind.CONNECTION_DELETED,
                 detail=f"{connection.name} ({connection.username}): {held.jobs} jobs, {held.sessions} sessions, "
                 f"{held.events} events, {held.links} links, {held.deliveries} pulled records"))
    log.info("connection deleted", extra={"connection": connection.name})
    return held


def render_qwc(connection: Connection, settings: Settings) -> str:
    """The .qwc file the user opens in the Web Connector, from qbwc.qwc.template."""
    values = {
        "connection_name": connection.name,
        "app_name": f"{settings.app_name} ({connection.name})"[:80],
        "app_url": settings.qbwc_url,
        "app_description": settings.app_description,
        "app_support": settings.support_url,
        "username": connection.username,
        "owner_id": connection.owner_id,
        "file_id": connection.file_id,
        "run_every_minutes": str(settings.run_every_minutes),
    }
    template = Template(qwc_template_path(settings).read_text(encoding="utf-8"))
    escaped = {key: escape(value) for key, value in values.items()}
    # The name also appears in an XML comment, where "--" is not allowed.
    escaped["connection_name"] = re.sub(r"-(?=-)", "- ", escaped["connection_name"]).rstrip("-")
    return template.substitute(escaped)


def qwc_template_path(settings: Settings) -> Path:
    """The operator's template if set, else the project's qbwc.qwc.template (source tree or install)."""
    candidates = (
        [settings.qwc_template]
        if settings.qwc_template
        else [
            Path(__file__).resolve().parents[1] / "qbwc.qwc.template",
            Path(sys.prefix) / "share" / "qbwc-service" / "qbwc.qwc.template",
        ]
    )
    for path in candidates:
        if path is not None and path.is_file():
            return path
    raise SettingsError(f"the .qwc template was not found (looked in {', '.join(map(str, candidates))})")


def company_date(connection: Connection, clock: Clock) -> date:
    """Today in the company's time zone (its ``time_zone`` option; UTC when unset or unusable)."""
    zone = (connection.options or {}).get("time_zone") or "UTC"
    try:
        return local_date(clock, str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        return local_date(clock, "UTC")


def _end_live_session(connection: Connection) -> None:
    connection.live_ticket = None
    connection.live_until = None


def _new_token() -> str:
    return secrets.token_urlsafe(24)


def _guid() -> str:
    return "{" + str(uuid.uuid4()).upper() + "}"
