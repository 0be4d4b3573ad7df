"""What an operator does, one function each: the CLI, the HTTP API and the pages call these and only
translate their inputs and outputs. Each refusal is a typed exception (qbwc_service.errors) carrying what
it is about."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from mappings.options import IntegrationOptions
from qbwc_service import apikeys, authentication, connections, fusion_accounts, job_reads, retention
from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.connections import Holdings, NewToken
from qbwc_service.db.enums import ApiScope, AuthOutcome, EventKind, JobStatus
from qbwc_service.db.models import ApiKey, Connection, Event, Job
from qbwc_service.errors import (
    BulkJobRefused,
    ConnectionBusy,
    IdempotencyKeyReused,
    InvalidJobPayload,
    InvalidOption,
    JobStateConflict,
    QbwcError,
    Refusal,
    Refused,
    ResolveFirst,
)
from qbwc_service.fusion.client import Account
from qbwc_service.fusion.errors import FusionError
from qbwc_service.fusion.http import RetryPolicy, Sleep
from qbwc_service.fusion_accounts import FusionCredentials
from qbwc_service.job_reads import JobFilter, JobPage
from qbwc_service.kinds import REGISTRY
from qbwc_service.kinds.base import ResolveContext
from qbwc_service.kinds.flows import enqueue_flow as enqueue_flow_entity
from qbwc_service.kinds.flows import options_of, refuse_non_us, refuse_stock_sync_off
from qbwc_service.kinds.probe import PROBE, prepare_probe
from qbwc_service.kinds.pull import prepare_pull
from qbwc_service.kinds.raw import Prepared, prepare_raw
from qbwc_service.queue import PENDING, Enqueued, JobQueue, NewJob, Queued, count_by_status, get_job
from qbwc_service.retention import PruneReport
from qbwc_service.secretbox import SecretBox
from qbwc_service.settings import Settings

PROBE_PRIORITY = 10


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


# ---------------------------------------------------------------- queueing work


def enqueue_raw(db: Session, job_queue: JobQueue, connection: str, request: str, *, key: str | None = None,
                priority: int = 0) -> Enqueued:
    """Queue an operator-supplied qbXML request element. The same ``key`` again with the same request returns the
    first job; with another request it is refused (IdempotencyKeyReused)."""
    return _enqueue(db, job_queue, connection, prepare_raw(request), key, priority)


def enqueue_probe(db: Session, job_queue: JobQueue, connection: str, *, key: str | None = None) -> Enqueued:
    """Queue the read-only "test access" probe (HostQuery + CompanyQuery)."""
    return _enqueue(db, job_queue, connection, prepare_probe(), key, PROBE_PRIORITY)


def enqueue_pull(db: Session, job_queue: JobQueue, connection: str, entity: str, *, since: str | None = None,
                 max_returned: int = 100, key: str | None = None) -> Enqueued:
    """Queue a read of QuickBooks records changed since ``since`` (default: since the last completed pull)."""
    return _enqueue(db, job_queue, connection, _prepared_pull(entity, since, max_returned), key, 0)


def _prepared_pull(entity: str, since: str | None, max_returned: int) -> Prepared:
    if since is not None:
        try:
            datetime.fromisoformat(since)
        except ValueError as exc:
            raise InvalidJobPayload(f"since {since!r} is not a date-time such as 2026-11-01T00:00:00",
                                    "since") from exc
    return prepare_pull(entity, max_returned=max_returned, since=since)


def enqueue_flow(db: Session, job_queue: JobQueue, connection: str, flow: str, entity: Any,
                 *, automatic: bool = False) -> list[Enqueued]:
    """Queue one Fusion entity for its send flow (one job per time record of a production order)."""
    return enqueue_flow_entity(db, job_queue, connections.get_connection(db, connection), flow, entity,
                               automatic=automatic)


def _enqueue(db: Session, job_queue: JobQueue, connection: str, prepared: Prepared, key: str | None,
             priority: int) -> Enqueued:
    found = connections.get_connection(db, connection)
    made = job_queue.enqueue(db, found.id, prepared.kind, prepared.payload, key=key, priority=priority,
                             read_only=prepared.read_only)
    if key is not None and not made.created and (made.job.kind, made.job.payload) != (prepared.kind, prepared.payload):
        raise IdempotencyKeyReused(key, made.job.id)
    return made


# ---------------------------------------------------------------- many jobs in one request


@dataclass(frozen=True)
class RawItem:
    connection: str
    request: str
    key: str | None = None
    priority: int = 0


@dataclass(frozen=True)
class PullItem:
    connection: str
    entity: str
    since: str | None = None
    max_returned: int = 100
    key: str | None = None


@dataclass(frozen=True)
class FlowItem:
    connection: str
    flow: str
    entity: Any
    automatic: bool = False


BulkItem = RawItem | PullItem | FlowItem


@dataclass(frozen=True)
class BulkQueued:
    """The jobs one item of a bulk request became (a production order: one per time record)."""

    index: int
    jobs: list[Queued]


def enqueue_bulk(db: Session, job_queue: JobQueue, items: Sequence[BulkItem]) -> list[BulkQueued]:
    """Queue many jobs in the caller's one transaction, in the order given (their ids follow it): raw requests
    and pulls with multi-row inserts, each entity through its flow's rules. A refused item refuses the whole
    request (BulkJobRefused, naming the item): the caller's transaction then queues nothing."""
    found: dict[str, Connection] = {}
    done: list[BulkQueued] = []
    waiting: list[tuple[int, NewJob]] = []

    def connection_of(index: int, name: str) -> Connection:
        if name not in found:
            try:
                found[name] = connections.get_connection(db, name)
            except QbwcError as exc:
                raise BulkJobRefused(index, exc) from exc
        return found[name]

    def flush() -> None:
        if waiting:
            queued = job_queue.enqueue_many(db, [job for _index, job in waiting])
            _refuse_reused_keys(db, waiting, queued)
            done.extend(BulkQueued(index, [one]) for (index, _job), one in zip(waiting, queued, strict=True))
            waiting.clear()

    for index, item in enumerate(items):
        connection = connection_of(index, item.connection)
        try:
            if isinstance(item, FlowItem):
                flush()
                made = enqueue_flow_entity(db, job_queue, connection, item.flow, item.entity,
                                           automatic=item.automatic)
                done.append(BulkQueued(index, [Queued(m.job.id, m.job.idempotency_key, m.job.kind, m.job.status,
                                                      m.created) for m in made]))
                continue
            if isinstance(item, RawItem):
                prepared, key, priority = prepare_raw(item.request), item.key, item.priority
            else:
                prepared, key, priority = _prepared_pull(item.entity, item.since, item.max_returned), item.key, 0
        except QbwcError as exc:
            raise BulkJobRefused(index, exc) from exc
        waiting.append((index, NewJob(connection.id, prepared.kind, prepared.payload, key=key, priority=priority,
                                      read_only=prepared.read_only)))
    flush()
    return done


def _refuse_reused_keys(db: Session, asked: list[tuple[int, NewJob]], queued: list[Queued]) -> None:
    """A key given with another request than the job that holds it (made before, or earlier in the request)."""
    first: dict[int, NewJob] = {}
    for (_index, job), one in zip(asked, queued, strict=True):
        if one.created:
            first[one.id] = job
    older = job_reads.contents_of(db, [one.id for one in queued if one.id not in first])
    for (index, job), one in zip(asked, queued, strict=True):
        if one.created or job.key is None:
            continue
        had = (first[one.id].kind, first[one.id].payload) if one.id in first else older[one.id]
        if had != (job.kind, job.payload):
            raise BulkJobRefused(index, IdempotencyKeyReused(job.key, one.id))


# ---------------------------------------------------------------- stock


@dataclass
class StockSent:
    queued: list[Enqueued] = field(default_factory=list)
    already_queued: list[Enqueued] = field(default_factory=list)
    not_labelled: list[str] = field(default_factory=list)  # product codes skipped


def send_stock(db: Session, job_queue: JobQueue, connection: str, levels: Iterable[Any]) -> StockSent:
    """Send the stock of every product given (only labelled products when that option is on)."""
    found = connections.get_connection(db, connection)
    refuse_non_us(found)
    refuse_stock_sync_off(found, options_of(found))
    sent = StockSent()
    for level in levels:
        try:
            (made,) = enqueue_flow_entity(db, job_queue, found, "stock", level)
        except Refused as exc:
            if exc.reason is not Refusal.NOT_LABELLED:
                raise
            sent.not_labelled.append(exc.subject)
            continue
        (sent.queued if made.created else sent.already_queued).append(made)
    return sent


def send_stock_of(db: Session, job_queue: JobQueue, connection: str, product: str,
                  levels: Sequence[Any]) -> Enqueued:
    """Update one product's quantity on hand, picked by its Fusion code from the stock levels given."""
    chosen = [level for level in levels
              if isinstance(level, dict) and (level.get("product") or {}).get("code") == product]
    if not chosen:
        raise InvalidJobPayload(f"product {product!r} is not in the stock levels given", "product")
    found = connections.get_connection(db, connection)
    refuse_stock_sync_off(found, options_of(found))
    (made,) = enqueue_flow_entity(db, job_queue, found, "stock", chosen[0])
    return made


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


# ---------------------------------------------------------------- jobs


def retry_job(db: Session, job_queue: JobQueue, job_id: int) -> Job:
    """Put a failed, dead, unknown or cancelled job back on the queue, keeping what its kind keeps across
    a retry (a pending lookup of a lost add, a pull's progress). An ``unknown`` write that QuickBooks cannot be
    asked about (it carries no marker) is refused (ResolveFirst): sent again, it could make its document twice."""
    job = get_job(db, job_id)
    if job.status == JobStatus.UNKNOWN and not job.reconcilable and not job.read_only:
        raise ResolveFirst(job.id, job.status)
    return job_queue.retry(db, job, REGISTRY.of(job).progress_on_retry(job))


def resolve_job(db: Session, job_queue: JobQueue, job_id: int, *, landed: bool, txn_id: str | None = None) -> Job:
    """A person's word on an ``unknown`` job after checking QuickBooks: it landed (done, keeping the TxnID given,
    and linking a sent entity to it), or it did not (back on the queue, sent again without a lookup)."""
    if txn_id is not None and not landed:
        raise InvalidJobPayload("a TxnID is kept only for a job that landed", "txn_id")
    job = get_job(db, job_id)
    if job.status != JobStatus.UNKNOWN:
        raise JobStateConflict(job.id, job.status, "resolved", (JobStatus.UNKNOWN,))
    kind = REGISTRY.of(job)
    if landed:
        connection = db.get(Connection, job.connection_id)
        assert connection is not None
        result = kind.landed(job, txn_id, ResolveContext(db, connection, job_queue.clock))
        return job_queue.resolve(db, job, landed=True, result=result)
    return job_queue.resolve(db, job, landed=False, progress=kind.progress_when_not_landed(job))


def cancel_job(db: Session, job_queue: JobQueue, job_id: int) -> Job:
    """Cancel a job not done yet; a job left ``sent`` by a session that is no longer live can be cancelled
    too (its answer will never come: check QuickBooks for what it sent)."""
    job = get_job(db, job_id)
    connection = db.get(Connection, job.connection_id)
    live = connection is not None and connection.live_ticket == job.ticket and connection.live_until is not None \
        and connection.live_until >= job_queue.clock.now()
    stuck = job.status == JobStatus.SENT and not live
    return job_queue.cancel(db, job_id, stuck=stuck)


# ---------------------------------------------------------------- jobs: reading, and steering many at once

MAX_STEERED = 10_000
"""The most jobs one retry, cancel or resolve by filter acts on."""


@dataclass(frozen=True)
class JobSelection:
    """Jobs by connection name, statuses, kind and creation time (naive UTC; from inclusive, to exclusive)."""

    connection: str | None = None
    statuses: tuple[JobStatus, ...] = ()
    kind: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def resolved(self, db: Session) -> JobFilter:
        if self.kind is not None:
            REGISTRY.named(self.kind)  # an unknown kind is refused, naming the known ones
        connection_id = connections.get_connection(db, self.connection).id if self.connection else None
        return JobFilter(connection_id, self.statuses, self.kind, self.created_from, self.created_to)


def list_jobs(db: Session, selection: JobSelection, *, before: int | None = None, limit: int = 50) -> JobPage:
    """A page of jobs, newest first, below the job id ``before`` when given."""
    return job_reads.page_of_jobs(db, selection.resolved(db), before=before, limit=limit)


@dataclass
class Steered:
    """What a retry, cancel or resolve by filter did: the jobs it changed, and those it refused, with why."""

    changed: list[Job] = field(default_factory=list)
    refused: list[tuple[int, QbwcError]] = field(default_factory=list)


def retry_jobs(db: Session, job_queue: JobQueue, selection: JobSelection, limit: int = MAX_STEERED) -> Steered:
    """Retry every job selected (oldest first, at most ``limit``); each refusal is kept, not raised."""
    return _steer(db, selection, limit, lambda job_id: retry_job(db, job_queue, job_id))


def cancel_jobs(db: Session, job_queue: JobQueue, selection: JobSelection, limit: int = MAX_STEERED) -> Steered:
    return _steer(db, selection, limit, lambda job_id: cancel_job(db, job_queue, job_id))


def resolve_jobs(db: Session, job_queue: JobQueue, selection: JobSelection, *, landed: bool,
                 limit: int = MAX_STEERED) -> Steered:
    """Resolve every ``unknown`` job selected alike (landed or not; no TxnID: each job has its own)."""
    chosen = JobSelection(selection.connection, (JobStatus.UNKNOWN,), selection.kind, selection.created_from,
                          selection.created_to)
    return _steer(db, chosen, limit, lambda job_id: resolve_job(db, job_queue, job_id, landed=landed))


def _steer(db: Session, selection: JobSelection, limit: int, act: Callable[[int], Job]) -> Steered:
    steered = Steered()
    for job_id in job_reads.ids_of_jobs(db, selection.resolved(db), limit):
        try:
            steered.changed.append(act(job_id))
        except QbwcError as exc:
            steered.refused.append((job_id, exc))
    return steered


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


# ---------------------------------------------------------------- retention


def prune(sessions: sessionmaker[Session], settings: Settings, clock: Clock = SYSTEM_CLOCK, *, dry_run: bool = False,
          max_rows: int | None = None) -> PruneReport:
    """Let go of what the retention settings allow (retention.py): done and cancelled jobs, ended sessions and old
    events; ``dry_run`` counts it and changes nothing. Many short transactions, not the caller's one: pruning a
    backlog must not hold the database, so this takes the session factory."""
    if dry_run:
        return retention.count(sessions, settings, clock)
    return retention.prune(sessions, settings, clock, max_rows=max_rows)
