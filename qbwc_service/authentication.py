"""Who may authenticate: the token check, and the limits on refusals per username and per client address,
shared by every `serve` process through the database.

- A refusal is counted against the username (on its connection row; an unknown username has none, so it
  adds no row) and against the client address (``qbwc_auth_failures``; an IPv6 address counts as its /64).
  ``per_username`` refusals within ``window`` lock the username for ``lockout``, except from the address it
  last authenticated from, so a stranger cannot shut out the real Web Connector; ``per_address`` refusals
  lock the address, whatever it sends. A locked Web Connector gets ``nvu``, as for a wrong token: the lockout
  tells an attacker nothing, and the operator sees it (``connection list``, a log line, an event).
- Every refusal, whatever its reason (an unknown username, a wrong or revoked token, a lockout), runs the same
  statements in the same order and hashes the token once: neither the time nor the database tells an
  unknown username from a known one.
- A refusal never writes the last contact or the last authentication: those are the last successful ones.
- Rows of addresses whose window and lockout are over are deleted by each refusal, so the table holds at most
  the addresses refused within the last window (and those still locked).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection as SqlConnection
from sqlalchemy import Engine, Table, and_, case, delete, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from qbwc_service import connections
from qbwc_service.db.enums import AuthOutcome, EventKind
from qbwc_service.db.models import AuthFailures, Connection, Event
from qbwc_service.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuthLimits:
    window: timedelta
    per_username: int
    per_address: int
    lockout: timedelta

    @classmethod
    def for_settings(cls, settings: Settings) -> AuthLimits:
        return cls(timedelta(seconds=settings.auth_window_seconds), settings.auth_failures_per_username,
                   settings.auth_failures_per_address, timedelta(seconds=settings.auth_lockout_seconds))


def door_key(door: str, address: str) -> str:
    """What a client address is counted as at another door than the Web Connector's (``pages``, ``webhook``): its
    :func:`address_key` under the door's name, so that refusals at one door never lock another."""
    return f"{door}:{address_key(address)}"[:64]


def address_key(address: str) -> str:
    """What a client address is counted as: an IPv4 address (an IPv4-mapped IPv6 one too), an IPv6 /64 (a host
    usually holds a whole /64), anything else as it is (at most 64 characters)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Authenticator:
    """Admits a Web Connector, or refuses it within the limits (see the module's docstring)."""

    def __init__(self, limits: AuthLimits) -> None:
        self.limits = limits

    def admit(self, db: Session, username: str, token: str, address: str, now: datetime) -> Connection | None:
        """The connection ``username`` and ``token`` open, its last authentication recorded; None when refused."""
        key = address_key(address)
        found = db.execute(
            select(Connection.id, Connection.token_hash, Connection.revoked_at, Connection.locked_until,
                   Connection.last_auth_address).where(Connection.username == username)
        ).first()
        address_locked_until = db.scalar(select(AuthFailures.locked_until).where(AuthFailures.address == key))
        matches = connections.token_matches(token, found.token_hash if found is not None else None)
        address_locked = address_locked_until is not None and address_locked_until > now
        username_locked = (found is not None and found.locked_until is not None and found.locked_until > now
                           and found.last_auth_address != key)
        if found is not None and matches and not address_locked and not username_locked:
            connection = db.get(Connection, found.id)
            assert connection is not None
            connection.last_auth_at = connection.last_contact_at = now
            connection.last_auth_outcome = AuthOutcome.OK
            connection.last_auth_address = key
            return connection
        if address_locked or username_locked:
            outcome, reason = AuthOutcome.LOCKED, "locked"
        elif found is None:
            outcome, reason = AuthOutcome.WRONG_PASSWORD, "unknown username"
        elif found.revoked_at is not None:
            outcome, reason = AuthOutcome.REVOKED, str(AuthOutcome.REVOKED)
        else:
            outcome, reason = AuthOutcome.WRONG_PASSWORD, str(AuthOutcome.WRONG_PASSWORD)
        self._refuse(db, username, key, outcome, now)
        log.warning("authenticate refused", extra={"username": username, "address": address, "reason": reason})
        return None

    def _refuse(self, db: Session, username: str, key: str, outcome: AuthOutcome, now: datetime) -> None:
        """The same four statements for every refusal: count it against the address and against the username
        (no row for an unknown one), record an event when the username's window began or its lockout did
        (none for an unknown one), and drop the address rows that are over."""
        cutoff, lock_end = now - self.limits.window, now + self.limits.lockout
        address_lock = db.execute(self._count_address(db.get_bind(), key, now, cutoff, lock_end)).scalar()
        if address_lock == lock_end:
            log.warning("authentication locked for a client address until %s", lock_end,
                        extra={"address": key, "reason": f"{self.limits.per_address} refusals"})
        reset = or_(Connection.failed_auths_since.is_(None), Connection.failed_auths_since <= cutoff)
        count = case((reset, 1), else_=Connection.failed_auths + 1)
        locked = db.execute(
            update(Connection).where(Connection.username == username)
            .values(failed_auths=count, failed_auths_since=case((reset, now), else_=Connection.failed_auths_since),
                    locked_until=case((count == self.limits.per_username, lock_end), else_=Connection.locked_until),
                    last_failed_auth_at=now, last_failed_auth_outcome=outcome)
            .returning(Connection.name, Connection.locked_until)
            .execution_options(synchronize_session=False)
        ).first()
        if locked is not None and locked.locked_until == lock_end:
            log.warning("authentication locked for a username until %s", lock_end,
                        extra={"connection": locked.name, "username": username,
                               "reason": f"{self.limits.per_username} refusals"})
        began = Connection.locked_until == lock_end
        db.execute(insert(Event).from_select(
            ["at", "connection_id", "kind", "detail"],
            select(literal(now), Connection.id,
                   case((began, literal(EventKind.AUTH_LOCKED.value)), else_=literal(EventKind.AUTH_REFUSED.value)),
                   literal(f"{outcome} from {key}"))
            .where(Connection.username == username, or_(Connection.failed_auths == 1, began))))
        db.execute(delete(AuthFailures).where(
            AuthFailures.window_started_at <= cutoff,
            or_(AuthFailures.locked_until.is_(None), AuthFailures.locked_until <= now)))

    def refuse_address(self, db: Session, key: str, now: datetime) -> datetime | None:
        """One refusal more from ``key`` at another door than the Web Connector's (the pages' sign-in counts its
        refusals under keys of its own): the address's lockout end, None when it is not locked. Rows that are
        over are dropped, as for every refusal."""
        cutoff, lock_end = now - self.limits.window, now + self.limits.lockout
        locked = cast(datetime | None,
                      db.execute(self._count_address(db.get_bind(), key, now, cutoff, lock_end)).scalar())
        db.execute(delete(AuthFailures).where(
            AuthFailures.window_started_at <= cutoff,
            or_(AuthFailures.locked_until.is_(None), AuthFailures.locked_until <= now)))
        return locked if locked is not None and locked > now else None

    @staticmethod
    def address_locked(db: Session, key: str, now: datetime) -> bool:
        until = db.scalar(select(AuthFailures.locked_until).where(AuthFailures.address == key))
        return until is not None and until > now

    def _count_address(self, bind: Engine | SqlConnection, key: str, now: datetime, cutoff: datetime,
                       lock_end: datetime) -> ReturningInsert[tuple[datetime | None]]:
        """One refusal more from ``key``: an insert, or an update of its row (atomic on either engine),
        returning the address's lockout."""
        table = cast(Table, AuthFailures.__table__)
        insert_ = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
        reset = table.c.window_started_at <= cutoff
        count = case((reset, 1), else_=table.c.failures + 1)
        first_lock = lock_end if self.limits.per_address == 1 else None
        return (
            insert_(table)
            .values(address=key, failures=1, window_started_at=now, locked_until=first_lock)
            .on_conflict_do_update(index_elements=[table.c.address], set_={
                "failures": count,
                "window_started_at": case((reset, now), else_=table.c.window_started_at),
                "locked_until": case((count == self.limits.per_address, lock_end), else_=table.c.locked_until),
            })
            .returning(table.c.locked_until)
        )


def unlock(connection: Connection) -> None:
    """Lift a username's lockout and forget its refusals (an operator who knows the refusals were the real Web
    Connector's, with an old token)."""
    connection.locked_until = None
    connection.failed_auths = 0
    connection.failed_auths_since = None


def locked_addresses(db: Session, now: datetime) -> list[tuple[str, datetime]]:
    """The client addresses locked now, with the end of each lockout."""
    rows = db.execute(select(AuthFailures.address, AuthFailures.locked_until)
                      .where(and_(AuthFailures.locked_until.is_not(None), AuthFailures.locked_until > now))
                      .order_by(AuthFailures.address))
    return [(address, until) for address, until in rows if until is not None]
