"""What an operator does to a connection, one function each: pairing (tokens, the company-file pin), its Fusion
account, renaming and deleting it, testing it, its integration options, and the API keys. The CLI, the HTTP API
and the pages call these (the queue's work and the jobs are in qbwc_service.usecases). Each refusal is a typed
exception (qbwc_service.errors) carrying what it is about."""


from __future__ import annotations

import copy
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from mappings.options import IntegrationOptions
from qbwc_service import apikeys, authentication, connections, fusion_accounts, job_reads
from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.connections import Holdings, NewToken
from qbwc_service.db.enums import ApiScope, AuthOutcome, EventKind, JobStatus
from qbwc_service.db.models import ApiKey, Connection, Event, Job
from qbwc_service.errors import (
    ConnectionBusy,
    InvalidOption,
)
from qbwc_service.fusion.client import Account
from qbwc_service.fusion.errors import FusionError
from qbwc_service.fusion.http import RetryPolicy, Sleep
from qbwc_service.fusion_accounts import FusionCredentials
from qbwc_service.kinds.flows import options_of
from qbwc_service.kinds.probe import PROBE
from qbwc_service.queue import PENDING, count_by_status
from qbwc_service.secretbox import SecretBox
from qbwc_service.settings import Settings

# ---------------------------------------------------------------- pairing


def create_connection(db: Session, name: str, clock: Clock = SYSTEM_CLOCK) -> NewToken:
    """A new connection and its first token, shown once."""
    return connections.create_connection(db, name, clock)


def revoke_token(db: Session, connection: str, clock: Clock = SYSTEM_CLOCK) -> Connection:
    """The connection's token stops working (its live session ends) until a new one is made."""
    return connections.revoke(db, connection, clock)


@dataclass(frozen=True)
class NewPairing:
    """A new token, shown once, and the company file the connection was pinned to until then."""

    connection: Connection
    token: str
    unpinned: str | None


@dataclass(frozen=True)
class Unpinned:
    connection: Connection
    company_file: str | None  # the path that was pinned; None when nothing was


def rotate_token(db: Session, connection: str, clock: Clock = SYSTEM_CLOCK) -> NewPairing:
    """A new token starts a new pairing (FAQ 4: the same company set up on another computer): the old token
    stops working at once, and the company-file pin is lifted, so the first session with the new token pins
    the file it opens, whatever its path there. The links to QuickBooks documents are kept: the company is
    the same, so nothing already sent is sent again."""
    made = connections.rotate_token(db, connection, clock)
    unpinned = connections.unpin_company_file(db, made.connection, "a new token was made", clock)
    return NewPairing(made.connection, made.token, unpinned)


def unpin_company_file(db: Session, connection: str, clock: Clock = SYSTEM_CLOCK) -> Unpinned:
    """Forget the pinned company file without a new token (the same company now opened from another path):
    the next session pins the file it opens. The links are kept."""
    found = connections.get_connection(db, connection)
    return Unpinned(found, connections.unpin_company_file(db, found, "unpinned by an operator", clock))


# ---------------------------------------------------------------- the Fusion account


@dataclass(frozen=True)
class FusionConfigured:
    connection: str
    base_url: str
    auth_kind: str
    token_url: str | None


def configure_fusion(db: Session, connection: str, credentials: FusionCredentials, settings: Settings,
                     clock: Clock = SYSTEM_CLOCK) -> FusionConfigured:
    """Set (or replace) the connection's Fusion Operations account. The secrets are stored encrypted with the
    settings' secret key, and refused (SecretKeyMissing) when there is none; the credentials are not tried here
    (``test_fusion`` does)."""
    found = connections.get_connection(db, connection)
    credentials.kind()  # refuses incomplete credentials before asking for a key
    box = SecretBox.from_settings(settings, "storing Fusion credentials")
    account = fusion_accounts.configure(db, found, credentials, box, clock)
    return FusionConfigured(found.name, account.base_url, account.auth_kind.value, account.token_url)


@dataclass(frozen=True)
class FusionTested:
    """Whether Fusion answered the connection's credentials (``account``: as whom), or why not (``error``)."""

    connection: str
    base_url: str
    account: Account | None
    error: FusionError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        if self.account is not None:
            named = repr(self.account.name) if self.account.name else "an account with no name"
            ident = f" (id {self.account.id})" if self.account.id else ""
            user = f", signed in as {self.account.user}" if self.account.user else ""
            return f"Fusion answered at {self.base_url}: account {named}{ident}{user}"
        kind = "is unavailable" if self.error and self.error.transient else "refused"
        return f"Fusion {kind} at {self.base_url}: {self.error}"


TEST_RETRY = RetryPolicy(max_attempts=2, backoff_seconds=1.0, max_wait_seconds=30.0)
"""A test says soon whether Fusion answers: one retry, half a minute of waiting at most."""


def test_fusion(sessions: sessionmaker[Session], connection: str, settings: Settings, clock: Clock = SYSTEM_CLOCK,
                *, sleep: Sleep | None = None, http: httpx.Client | None = None) -> FusionTested:
    """Ask Fusion who the connection's credentials speak for (GET /me [G]), and remember the answer: the account
    named keys the request budget from then on. A Fusion error is the result, not raised; a connection without a
    Fusion account (FusionNotConfigured) or a secret key (SecretKeyMissing) is raised."""
    with sessions.begin() as db:
        account = fusion_accounts.require(db, connections.get_connection(db, connection))
        row_id, base_url = account.id, account.base_url
    client = fusion_accounts.open_client(sessions, connection, settings, clock=clock, sleep=sleep, http=http,
                                         retry=TEST_RETRY)
    try:
        answered: Account | None = client.account()
        error: FusionError | None = None
    except FusionError as exc:
        answered, error = None, exc
    finally:
        if http is None:
            client.close()
    tested = FusionTested(connection, base_url, answered, error)
    with sessions.begin() as db:
        fusion_accounts.record_test(db, row_id, clock.now(), tested.line(),
                                    answered.id if answered else None, answered.name if answered else None)
    return tested


test_fusion.__test__ = False  # type: ignore[attr-defined]  # a use case, not a test for pytest to collect


def unlock_connection(db: Session, connection: str, clock: Clock = SYSTEM_CLOCK) -> Connection:
    """Lift a username's lockout (refused authentications) and forget its refusals; recorded as an event."""
    found = connections.get_connection(db, connection)
    authentication.unlock(found)
    db.add(Event(at=clock.now(), connection_id=found.id, kind=EventKind.AUTH_UNLOCKED))
    return found


# ---------------------------------------------------------------- connections: rename, delete


def rename_connection(db: Session, connection: str, new_name: str, clock: Clock = SYSTEM_CLOCK) -> Connection:
    """Give a connection a new name; its Web Connector username and token stay, so pairing is untouched."""
    return connections.rename(db, connections.get_connection(db, connection), new_name, clock)


def connection_holdings(db: Session, connection: str) -> tuple[Holdings, dict[str, int]]:
    """What deleting a connection would delete, and its unfinished jobs by status."""
    found = connections.get_connection(db, connection)
    return connections.holdings(db, found), _unfinished(db, found.id)


def delete_connection(db: Session, connection: str, *, force: bool = False,
                      clock: Clock = SYSTEM_CLOCK) -> Holdings:
    """Delete a connection with all it holds (jobs, sessions, events, links, pulled records), in the caller's
    one transaction. Refused (ConnectionBusy) while it has unfinished jobs (queued, sent, failed, unknown),
    unless ``force``: they would never be sent, or their outcome never known."""
    found = connections.get_connection(db, connection)
    unfinished = _unfinished(db, found.id)
    if unfinished and not force:
        raise ConnectionBusy(found.name, unfinished)
    return connections.delete(db, found, clock)


def _unfinished(db: Session, connection_id: int) -> dict[str, int]:
    return {status: count for status, count in count_by_status(db, connection_id).items() if status in PENDING}


# ---------------------------------------------------------------- testing a connection


@dataclass(frozen=True)
class ConnectionCheck:
    """"Test connection": what the connection row says of its Web Connector. ``authenticated`` is None when it
    has never tried; ``advice`` is what to do next."""

    connection: Connection
    reached: bool
    authenticated: bool | None
    advice: str
    last_attempt_at: datetime | None = None  # the newest authentication, accepted or refused
    outcome: AuthOutcome | None = None  # how it went


def check_connection(db: Session, connection: str, clock: Clock = SYSTEM_CLOCK) -> ConnectionCheck:
    """Has the Web Connector reached the service, when, with which version, and did its authentication pass."""
    found = connections.get_connection(db, connection)
    # Refused attempts are kept apart from the last successful contact: the newer of the two is the last word.
    refused_last = found.last_failed_auth_at is not None and (
        found.last_auth_at is None or found.last_failed_auth_at > found.last_auth_at)
    outcome = found.last_failed_auth_outcome if refused_last else found.last_auth_outcome
    reached = found.last_contact_at is not None or found.last_failed_auth_at is not None
    authenticated = None if outcome is None else outcome == AuthOutcome.OK
    if found.revoked_at is not None:
        advice = "The token is revoked: make a new one, and type it in the Web Connector."
    elif not reached:
        advice = ("The Web Connector has not called yet: add the .qwc file in the Web Connector (File > Add an "
                  "application), type the token as its password, and press Update Selected.")
    elif outcome == AuthOutcome.WRONG_PASSWORD:
        advice = "The Web Connector's password is not this connection's token: type the token again there."
    elif outcome == AuthOutcome.REVOKED:
        advice = "The Web Connector called with a revoked token: make a new one, and type it in the Web Connector."
    elif found.last_connection_error:
        advice = found.last_connection_error
    else:
        advice = "The Web Connector reaches the service and authenticates: run \"test access\" next."
    last_attempt = found.last_failed_auth_at if refused_last else found.last_auth_at
    return ConnectionCheck(found, reached, authenticated, advice, last_attempt, outcome)


@dataclass(frozen=True)
class AccessTest:
    """"Test access": the newest probe of a connection (None: never queued) and what it read, once done."""

    connection: Connection
    job: Job | None

    @property
    def result(self) -> dict[str, Any]:
        return (self.job.result or {}) if self.job is not None and self.job.status == JobStatus.DONE else {}


def access_test(db: Session, connection: str) -> AccessTest:
    found = connections.get_connection(db, connection)
    return AccessTest(found, job_reads.newest_of_kind(db, found.id, PROBE.name))


# ---------------------------------------------------------------- options


def connection_options(db: Session, connection: str) -> IntegrationOptions:
    """A connection's integration options, with the defaults filled in."""
    return options_of(connections.get_connection(db, connection))


def update_options(db: Session, connection: str, *, set_values: Sequence[tuple[str, Any]] = (),
                   unset: Sequence[str] = ()) -> IntegrationOptions:
    """Change a connection's integration options (dotted keys for nested ones: sales_orders.automatic);
    the result is validated as a whole before it is saved."""
    for dotted in [*(key for key, _value in set_values), *unset]:
        _check_option_name(dotted)
    found = connections.get_connection(db, connection)
    stored: dict[str, Any] = copy.deepcopy(found.options or {})
    for dotted, value in set_values:
        _assign(stored, dotted, value)
    for dotted in unset:
        _remove(stored, dotted)
    try:
        options = IntegrationOptions.model_validate(stored)
    except ValidationError as exc:
        first = exc.errors()[0]
        # A rule between options (stock_sync needs stock_adjustment_account) has no place of its own: it is about
        # the options this change touched.
        touched = list(dict.fromkeys([*(key for key, _value in set_values), *unset]))
        raise InvalidOption(".".join(str(p) for p in first["loc"]) or ", ".join(touched), first["msg"]) from exc
    found.options = options.model_dump(mode="json", exclude_defaults=True)
    return options


def _check_option_name(dotted: str) -> None:
    """A dotted key names an option (sales_orders.automatic: a group's option), else InvalidOption: an unknown
    key is never silently set or unset."""
    model: type[BaseModel] = IntegrationOptions
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        known = model.model_fields
        if part not in known:
            close = difflib.get_close_matches(part, known, n=1)
            hint = f"did you mean {'.'.join([*parts[:depth], close[0]])}?" if close else f"known: {', '.join(known)}"
            raise InvalidOption(dotted, f"no such option ({hint})")
        annotation = known[part].annotation
        if depth < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                raise InvalidOption(dotted, f"{'.'.join(parts[:depth + 1])} is not a group of options")
            model = annotation


def _assign(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        nested = target.setdefault(part, {})
        if not isinstance(nested, dict):
            raise InvalidOption(part, "is not a group of options")
        target = nested
    target[leaf] = value


def _remove(target: dict[str, Any], dotted: str) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        nested = target.get(part)
        if not isinstance(nested, dict):
            return
        target = nested
    target.pop(leaf, None)


# ---------------------------------------------------------------- API keys


def create_api_key(db: Session, name: str, *, read_only: bool = False,
                   clock: Clock = SYSTEM_CLOCK) -> apikeys.NewApiKey:
    """A key to the HTTP API, shown once: read-only (reads) or admin (everything an operator does)."""
    return apikeys.create(db, name, ApiScope.READ_ONLY if read_only else ApiScope.ADMIN, clock)


def list_api_keys(db: Session) -> list[ApiKey]:
    return apikeys.list_keys(db)


def revoke_api_key(db: Session, name: str, clock: Clock = SYSTEM_CLOCK) -> ApiKey:
    """The key stops working at once."""
    return apikeys.revoke(db, name, clock)
