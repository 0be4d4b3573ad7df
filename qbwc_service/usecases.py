"""What an operator does, one function each: the CLI, the HTTP API and the pages call these and only
translate their inputs and outputs. Each refusal is a typed exception (qbwc_service.errors) carrying what
it is about."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections, job_reads, retention
from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.db.enums import JobStatus
from qbwc_service.db.models import Connection, Job
from qbwc_service.errors import (
    BulkJobRefused,
    IdempotencyKeyReused,
    InvalidJobPayload,
    JobStateConflict,
    QbwcError,
    Refusal,
    Refused,
    ResolveFirst,
)
from qbwc_service.job_reads import JobFilter, JobPage
from qbwc_service.kinds import REGISTRY
from qbwc_service.kinds.base import ResolveContext
from qbwc_service.kinds.flows import enqueue_flow as enqueue_flow_entity
from qbwc_service.kinds.flows import options_of, refuse_non_us, refuse_stock_sync_off
from qbwc_service.kinds.probe import prepare_probe
from qbwc_service.kinds.pull import prepare_pull
from qbwc_service.kinds.raw import Prepared, prepare_raw
from qbwc_service.queue import Enqueued, JobQueue, NewJob, Queued, get_job
from qbwc_service.retention import PruneReport
from qbwc_service.settings import Settings

PROBE_PRIORITY = 10


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


# ---------------------------------------------------------------- jobs


def retry_job(db: Session, job_queue: JobQueue, job_id: int) -> Job:
    """Put a failed, dead, unknown or cancelled job back on the queue, keeping what its kind keeps across
    a retry (a pending lookup of a lost add, a pull's progress). An ``unknown`` write that QuickBooks cannot be
    asked about (it carries no marker) is refused (ResolveFirst): sent again, it could make its document twice."""
    job = get_job(db, job_id)
    if job.status == JobStatus.UNKNOWN and not job.reconcilable and not job.read_only:
        raise ResolveFirst(job.id, job.status)
    return job_queue.retry(db, job, REGISTRY.of(job).progress_on_retry(job))


MAX_TXN_ID = 60
"""The longest QuickBooks id an operator may give when resolving a job (QuickBooks' own are far shorter)."""


def resolve_job(db: Session, job_queue: JobQueue, job_id: int, *, landed: bool, txn_id: str | None = None) -> Job:
    """A person's word on an ``unknown`` job after checking QuickBooks: it landed (done, keeping the TxnID given,
    and linking a sent entity to it), or it did not (back on the queue, sent again without a lookup)."""
    if txn_id is not None and not landed:
        raise InvalidJobPayload("a TxnID is kept only for a job that landed", "txn_id")
    if txn_id is not None and len(txn_id) > MAX_TXN_ID:
        raise InvalidJobPayload(f"a QuickBooks id has at most {MAX_TXN_ID} characters", "txn_id")
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


# ---------------------------------------------------------------- retention


def prune(sessions: sessionmaker[Session], settings: Settings, clock: Clock = SYSTEM_CLOCK, *, dry_run: bool = False,
          max_rows: int | None = None) -> PruneReport:
    """Let go of what the retention settings allow (retention.py): done and cancelled jobs, ended sessions and old
    events; ``dry_run`` counts it and changes nothing. Many short transactions, not the caller's one: pruning a
    backlog must not hold the database, so this takes the session factory."""
    if dry_run:
        return retention.count(sessions, settings, clock)
    return retention.prune(sessions, settings, clock, max_rows=max_rows)
