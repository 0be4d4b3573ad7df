"""The job queue: the only module that writes ``qbwc_jobs`` (the changes it makes to the jobs of a Web Connector
call reach the table through :mod:`qbwc_service.db.rows`).

A :class:`JobQueue` is made once, with the service's clock and retry policy. It queues jobs, claims them
for a session in one statement, and applies the :mod:`settlements <qbwc_service.settlements>` that job
kinds return, counting what it applied on the session's tally.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, defer

from qbwc_service import job_columns
from qbwc_service.clock import Clock
from qbwc_service.db import rows
from qbwc_service.db.enums import EventKind, JobStatus
from qbwc_service.db.models import CLAIMABLE_STATUSES, IN_FLIGHT, Event, Job
from qbwc_service.errors import JobNotFound, JobStateConflict
from qbwc_service.settings import Settings
from qbwc_service.settlements import Continue, Dead, Done, Lost, Retry, Settlement

log = logging.getLogger(__name__)

CLAIMABLE = (JobStatus.QUEUED, JobStatus.FAILED)
RETRYABLE = (JobStatus.FAILED, JobStatus.DEAD, JobStatus.UNKNOWN, JobStatus.CANCELLED)
CANCELLABLE = (JobStatus.QUEUED, JobStatus.FAILED, JobStatus.UNKNOWN, JobStatus.DEAD)
PENDING = (JobStatus.QUEUED, JobStatus.SENT, JobStatus.FAILED, JobStatus.UNKNOWN)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing job is tried, and how long it waits between tries (doubling)."""

    max_attempts: int = 5
    backoff_seconds: float = 60
    max_backoff: timedelta = timedelta(hours=6)

    def delay(self, attempts: int) -> timedelta:
        return min(timedelta(seconds=self.backoff_seconds * 2 ** max(attempts - 1, 0)), self.max_backoff)


class Tally(Protocol):
    """What a Web Connector session counts: the jobs it finished, and those it did not."""

    jobs_done: int
    jobs_failed: int


@dataclass(frozen=True)
class Enqueued:
    job: Job
    created: bool
    changed: bool = False  # an entity queued again with other content: the job now carries it (or sends it)


@dataclass(frozen=True)
class NewJob:
    """One job for :meth:`JobQueue.enqueue_many`: what :meth:`JobQueue.enqueue` takes, as a value."""

    connection_id: int
    kind: str
    payload: dict[str, Any]
    key: str | None = None
    priority: int = 0
    read_only: bool = False
    reconcilable: bool = False


@dataclass(frozen=True)
class Queued:
    """What :meth:`JobQueue.enqueue_many` made of one job asked for: the job's id, key, kind and status, and whether
    this call created it (False: a job with its key existed already, or came earlier in the same call)."""

    id: int
    key: str
    kind: str
    status: JobStatus
    created: bool


def stored_progress(progress: BaseModel | None) -> dict[str, Any] | None:
    return (progress.model_dump(mode="json", exclude_defaults=True) or None) if progress is not None else None


class JobQueue:
    def __init__(self, clock: Clock, policy: RetryPolicy) -> None:
        self.clock = clock
        self.policy = policy

    @classmethod
    def for_settings(cls, settings: Settings, clock: Clock) -> JobQueue:
        return cls(clock, RetryPolicy(settings.max_attempts, settings.retry_backoff_seconds))

    # ---------------------------------------------------------------- in

    def enqueue(
        self,
        db: Session,
        connection_id: int,
        kind: str,
        payload: dict[str, Any],
        *,
        key: str | None = None,
        priority: int = 0,
        read_only: bool = False,
        reconcilable: bool = False,
        depends_on: int | None = None,
        order_key: str | None = None,
    ) -> Enqueued:
        """Queue a job; a second call with the same key returns the first job and creates nothing."""
        now = self.clock.now()
        key_given = key is not None
        key = key or f"{kind}:{secrets.token_hex(12)}"
        values = {
            "connection_id": connection_id, "kind": kind, "payload": payload, "idempotency_key": key,
            "key_given": key_given,
            "status": JobStatus.QUEUED, "priority": priority, "read_only": read_only, "reconcilable": reconcilable,
            "attempts": 0, "depends_on": depends_on, "order_key": order_key, "created_at": now, "updated_at": now,
        }
        dialect = db.get_bind().dialect.name
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(Job).values(values).on_conflict_do_nothing(
                index_elements=["connection_id", "idempotency_key"])
        elif dialect == "sqlite":
            stmt = sqlite.insert(Job).values(values).on_conflict_do_nothing(
                index_elements=["connection_id", "idempotency_key"])
        else:  # pragma: no cover - only the two supported engines reach here
            stmt = insert(Job).values(values)
        new_id = db.execute(stmt.returning(Job.id)).scalar()
        job = db.scalar(select(Job).where(Job.connection_id == connection_id, Job.idempotency_key == key))
        assert job is not None
        if new_id is not None:
            self._event(db, job, EventKind.JOB_ENQUEUED, kind)
        return Enqueued(job, new_id is not None)

    def enqueue_many(self, db: Session, jobs: Sequence[NewJob]) -> list[Queued]:
        """Queue many jobs at once, in the order given: multi-row INSERTs (ON CONFLICT DO NOTHING) and one
        multi-row insert of their events, instead of a statement and an ORM object per job. A job whose key exists
        already (or came earlier in ``jobs``) is not created again: its entry names the job that has the key."""
        now = self.clock.now()
        keyed = [(job, job.key or f"{job.kind}:{secrets.token_hex(12)}") for job in jobs]
        first: dict[tuple[int, str], NewJob] = {}
        for job, key in keyed:
            first.setdefault((job.connection_id, key), job)
        rows = [{
            "connection_id": job.connection_id, "kind": job.kind, "payload": job.payload, "idempotency_key": key,
            "status": JobStatus.QUEUED, "priority": job.priority, "read_only": job.read_only,
            "reconcilable": job.reconcilable, "send_alone": False, "attempts": 0, "created_at": now,
            "updated_at": now,
        } for (connection_id, key), job in first.items()]
        made: dict[tuple[int, str], Queued] = {}
        if rows:
            inserted = db.execute(_insert_ignoring_keys(db).returning(Job.id, Job.connection_id, Job.idempotency_key,
                                                                      Job.kind), rows).all()
            for job_id, connection_id, key, kind in inserted:
                made[(connection_id, key)] = Queued(job_id, key, kind, JobStatus.QUEUED, True)
        if made:
            _insert_events(db, [{"at": now, "connection_id": connection_id, "job_id": queued.id,
                                        "kind": EventKind.JOB_ENQUEUED, "detail": queued.kind}
                                       for (connection_id, _key), queued in made.items()])
        for connection_id, key, job_id, kind, status in _existing(db, [k for k in first if k not in made]):
            made[(connection_id, key)] = Queued(job_id, key, kind, status, False)
        seen: set[tuple[int, str]] = set()
        result = []
        for job, key in keyed:
            entry = made[(job.connection_id, key)]
            if (job.connection_id, key) in seen and entry.created:
                entry = Queued(entry.id, entry.key, entry.kind, entry.status, False)
            seen.add((job.connection_id, key))
            result.append(entry)
        return result

    # ---------------------------------------------------------------- out to a session

    def claim_batch(self, db: Session, connection_id: int, ticket: str, limit: int) -> list[Job]:
        """Atomically mark up to ``limit`` due jobs as sent under ``ticket``; one statement.

        PostgreSQL skips rows another transaction holds (FOR UPDATE SKIP LOCKED); SQLite, which
        ignores FOR UPDATE, is kept correct by the status guard and its single writer.
        """
        now = self.clock.now()
        params = {"due_connection": connection_id, "due_now": now, "claim_limit": limit, "claim_ticket": ticket,
                  "claim_now": now}
        rows.write(db)
        jobs = sorted(_row_jobs(db, db.connection().execute(_CLAIM, params)),
                      key=lambda j: (-j.priority, j.id))
        alone = next((job for job in jobs if job.send_alone), None)
        if alone is not None and len(jobs) > 1:
            # A job to be sent alone takes the whole message set; the others go back untouched.
            self.release([job for job in jobs if job is not alone])
            jobs = [alone]
        if jobs:
            _insert_events(db, [
                {"at": now, "connection_id": j.connection_id, "job_id": j.id, "ticket": ticket,
                 "kind": EventKind.JOB_SENT} for j in jobs
            ])
        return jobs

    def replace_payload(self, db: Session, job: Job, payload: dict[str, Any], note: str) -> Job:
        """A job not sent yet (or refused by QuickBooks) takes the newer version of what it sends."""
        if job.status not in (JobStatus.QUEUED, JobStatus.FAILED):
            raise JobStateConflict(job.id, job.status, "changed", (JobStatus.QUEUED, JobStatus.FAILED))
        job.payload = payload
        job.updated_at = self.clock.now()
        self._event(db, job, EventKind.JOB_CHANGED, note)
        return job

    def release(self, jobs: list[Job]) -> None:
        """Claimed jobs that are not sent after all (no room left in the message set): back on the queue as
        they were, no attempt spent."""
        for job in jobs:
            job.status = JobStatus.QUEUED
            job.attempts = max(job.attempts - 1, 0)
            job.ticket = None

    def record_sent(self, job: Job, request_xml: str, warnings: list[str], progress: BaseModel | None, *,
                    looks_up: bool = False) -> None:
        """What was sent for a claimed job, the warnings made while building it, and its kind's progress. A query
        that reads back what an earlier attempt did (``looks_up``) is kept apart, in ``lookup_xml``: the job's own
        request stays in ``request_xml``."""
        if looks_up:
            job.lookup_xml = request_xml
        else:
            job.request_xml = request_xml
            job.warnings = warnings or None
        if progress is not None:
            job.cursor = stored_progress(progress)

    def due_count(self, db: Session, connection_id: int) -> int:
        """Jobs that a session could claim now, all of them (it reads the whole due part of the queue: a Web
        Connector's call uses :meth:`due_at_most`)."""
        return db.scalar(_DUE_COUNT, {"due_connection": connection_id, "due_now": self.clock.now()}) or 0

    def due_at_most(self, db: Session, connection_id: int, limit: int) -> int:
        """How many jobs a session could claim now, counted up to ``limit``: it reads at most ``limit`` entries of
        the due index, never the whole queue (0: nothing is due)."""
        return db.scalar(_DUE_AT_MOST, {"due_connection": connection_id, "due_now": self.clock.now(),
                                        "due_limit": limit}) or 0

    # ---------------------------------------------------------------- settling

    def settle(self, db: Session, job: Job, settlement: Settlement, tally: Tally | None = None) -> None:
        """Apply what a job kind decided, and count it on the session's tally."""
        match settlement:
            case Done():
                self._finish(db, job, JobStatus.DONE, settlement.response_xml, settlement.status_code,
                             settlement.status_message, settlement.result, settlement.progress)
                if tally is not None:
                    tally.jobs_done += 1
            case Retry():
                self._fail(db, job, settlement)
                if tally is not None:
                    tally.jobs_failed += 1
            case Dead():
                self._kill(db, job, settlement)
                if tally is not None:
                    tally.jobs_failed += 1
            case Continue():
                self._continue(job, settlement)
            case Lost():
                if job.status == JobStatus.SENT:
                    self._lose(db, job, settlement)
                    if tally is not None:
                        tally.jobs_failed += 1

    def _fail(self, db: Session, job: Job, retry: Retry) -> None:
        if job.attempts >= self.policy.max_attempts:
            self._kill(db, job, Dead(f"{retry.reason} (gave up after {job.attempts} attempts)", retry.status_code,
                                     retry.response_xml, retry.progress))
            return
        self._finish(db, job, JobStatus.FAILED, retry.response_xml, retry.status_code, retry.reason, None,
                     retry.progress)
        job.not_before = self.clock.now() + self.policy.delay(job.attempts)
        job.finished_at = None

    def _kill(self, db: Session, job: Job, dead: Dead) -> None:
        self._finish(db, job, JobStatus.DEAD, dead.response_xml, dead.status_code, dead.reason, dead.result,
                     dead.progress)
        self._kill_dependents(db, job)

    def _continue(self, job: Job, more: Continue) -> None:
        """Back on the queue at once, not counted as an attempt (attempts count failures and fresh starts)."""
        if more.progress is not None:
            job.cursor = stored_progress(more.progress)
        if more.depends_on is not None:
            job.depends_on = more.depends_on
        job.send_alone = job.send_alone or more.alone
        job.status = JobStatus.QUEUED
        job.attempts = max(job.attempts - 1, 0)
        job.not_before = None
        job.status_message = more.note
        job.updated_at = self.clock.now()

    def _lose(self, db: Session, job: Job, lost: Lost) -> None:
        """The one rule for a lost outcome: reading again is harmless, so a read goes back to the queue
        (dead once its attempts are spent); a write is never re-sent blindly, so it waits as unknown."""
        if job.attempts >= self.policy.max_attempts:
            self._kill(db, job, Dead(f"{lost.reason} (gave up after {job.attempts} attempts)" if job.read_only else
                                     f"{lost.reason}. Gave up after {job.attempts} attempts whose outcome was lost: "
                                     "check QuickBooks for the document before retrying or cancelling this job.",
                                     progress=lost.progress))
            return
        job.status = JobStatus.QUEUED if job.read_only else JobStatus.UNKNOWN
        if lost.progress is not None:
            job.cursor = stored_progress(lost.progress)
        job.status_message = lost.reason
        job.updated_at = self.clock.now()
        self._event(db, job, EventKind.job_became(job.status), lost.reason)
        _log_outcome(job, lost.reason)

    # ---------------------------------------------------------------- operators

    def retry(self, db: Session, job: Job, progress: BaseModel | None) -> Job:
        """Operator's retry: a failed, dead, unknown or cancelled job goes back to the queue now, with the
        progress its kind keeps across a retry."""
        if job.status not in RETRYABLE:
            raise JobStateConflict(job.id, job.status, "retried", RETRYABLE)
        job.status = JobStatus.QUEUED
        job.not_before = None
        job.attempts = 0
        job.updated_at = self.clock.now()
        job.finished_at = None
        job.cursor = stored_progress(progress)
        self._event(db, job, EventKind.JOB_RETRIED, "by operator")
        return job

    def cancel(self, db: Session, job_id: int, *, stuck: bool = False) -> Job:
        """Cancel a job not done; ``stuck``: also one left ``sent`` by a session that is over (its caller knows)."""
        job = get_job(db, job_id)
        allowed = (*CANCELLABLE, JobStatus.SENT) if stuck else CANCELLABLE
        if job.status not in allowed:
            raise JobStateConflict(job.id, job.status, "cancelled", allowed)
        job.status = JobStatus.CANCELLED
        job.updated_at = job.finished_at = self.clock.now()
        self._event(db, job, EventKind.JOB_CANCELLED, "by operator")
        self._kill_dependents(db, job)
        return job

    def resolve(self, db: Session, job: Job, *, landed: bool, result: dict[str, Any] | None = None,
                progress: BaseModel | None = None) -> Job:
        """A person's word on an ``unknown`` job, whose answer was lost: it landed in QuickBooks (done, keeping
        ``result``: the QuickBooks id they found), or it did not (back on the queue now, with ``progress``, to be
        sent again)."""
        if job.status != JobStatus.UNKNOWN:
            raise JobStateConflict(job.id, job.status, "resolved", (JobStatus.UNKNOWN,))
        now = self.clock.now()
        job.updated_at = now
        if landed:
            job.status = JobStatus.DONE
            job.send_alone = False
            job.result = {**(job.result or {}), **(result or {}), "resolved": "landed"}
            job.status_message = "Resolved by an operator: it landed in QuickBooks."
            job.finished_at = now
            detail = "landed" + "".join(f", {name} {value}" for name, value in (result or {}).items())
        else:
            job.status = JobStatus.QUEUED
            job.not_before = None
            job.attempts = 0
            job.finished_at = None
            job.cursor = stored_progress(progress)
            job.status_message = "Resolved by an operator: it did not land in QuickBooks; queued to be sent again."
            detail = "did not land; queued again"
        self._event(db, job, EventKind.JOB_RESOLVED, detail)
        log.info("job %s resolved by an operator: %s", job.id, detail, extra={"job": job.id})
        return job

    # ---------------------------------------------------------------- internals

    def _finish(self, db: Session, job: Job, status: JobStatus, response_xml: str | None, status_code: str | None,
                status_message: str, result: dict[str, Any] | None, progress: BaseModel | None) -> None:
        job.status = status
        if status in (JobStatus.DONE, JobStatus.DEAD):
            job.send_alone = False
        job.response_xml = response_xml
        job.status_code = status_code
        job.status_message = status_message
        if result is not None:
            job.result = result
        if progress is not None:
            job.cursor = stored_progress(progress)
        job.updated_at = job.finished_at = self.clock.now()
        detail = f"{status_code or ''} {status_message}".strip()
        self._event(db, job, EventKind.job_became(status), detail)
        _log_outcome(job, detail)

    def _kill_dependents(self, db: Session, job: Job) -> None:
        waiting = db.scalars(select(Job).where(Job.depends_on == job.id, Job.status.in_(CLAIMABLE))).all()
        for dependent in waiting:
            self._kill(db, dependent, Dead(
                f"job {job.id}, which this job needs first, is {job.status}: {job.status_message}"))

    def _event(self, db: Session, job: Job, kind: EventKind, detail: str | None = None) -> None:
        row = {"at": self.clock.now(), "connection_id": job.connection_id, "job_id": job.id, "ticket": job.ticket,
               "kind": kind, "detail": detail}
        held: list[dict[str, Any]] | None = db.info.get(_HELD_EVENTS)
        if held is not None:
            held.append(row)
        else:
            db.add(Event(**row))

    @contextmanager
    def events_together(self, db: Session) -> Iterator[None]:
        """The events of the jobs settled inside the block are written on the way out, in one statement (an
        executemany) instead of one INSERT each; when the block raises, none is written (its savepoint, rolled
        back, takes the jobs' changes with it)."""
        outer = db.info.get(_HELD_EVENTS)
        held: list[dict[str, Any]] = []
        db.info[_HELD_EVENTS] = held
        try:
            yield
        finally:
            db.info[_HELD_EVENTS] = outer
        if held:
            _insert_events(db, held)


def _insert_events(db: Session, rows: list[dict[str, Any]]) -> None:
    """One executemany on the transaction's connection: the ORM's bulk path (which would fetch every new id back)
    costs more than the insert itself, and nothing reads these rows back as objects. What the session holds is
    flushed first, so that the events keep the order in which they happened."""
    db.flush()
    db.connection().execute(_INSERT_EVENTS, rows)


_EVENTS = Event.metadata.tables[Event.__tablename__]
_INSERT_EVENTS = insert(_EVENTS)
_HELD_EVENTS = "qbwc_held_events"
"""The key in ``Session.info`` of the events :meth:`JobQueue.events_together` holds until its block ends."""


_OUTCOMES = {
    JobStatus.DONE: (logging.INFO, "job %s done (%s)"),
    JobStatus.FAILED: (logging.WARNING, "job %s failed (%s); it is tried again later"),
    JobStatus.DEAD: (logging.WARNING, "job %s dead (%s); a person must act"),
    JobStatus.UNKNOWN: (logging.WARNING, "job %s unknown (%s): its answer was lost, and a write is never sent "
                                         "again blindly"),
    JobStatus.QUEUED: (logging.INFO, "job %s queued again (%s): a read whose answer was lost"),
}


def _log_outcome(job: Job, detail: str) -> None:
    """One line per outcome, with the job id; the reason, cut short, never a qbXML body."""
    level, message = _OUTCOMES[JobStatus(job.status)]
    if not log.isEnabledFor(level):
        return  # the line and its fields are not built at all: one settlement per job, many jobs per call
    log.log(level, message, job.id, job.kind,
            extra={"job": job.id, "ticket": job.ticket,
                   "reason": detail[:300] if detail and job.status != JobStatus.DONE else None})


def _insert_ignoring_keys(db: Session) -> Any:
    """INSERT INTO qbwc_jobs that skips a row whose (connection, key) exists already."""
    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(Job).on_conflict_do_nothing(index_elements=["connection_id", "idempotency_key"])
    return sqlite.insert(Job).on_conflict_do_nothing(index_elements=["connection_id", "idempotency_key"])


def _existing(db: Session, keys: list[tuple[int, str]], chunk: int = 500) -> list[tuple[int, str, int, str, JobStatus]]:
    """(connection, key, id, kind, status) of the jobs that hold these keys."""
    by_connection: dict[int, list[str]] = {}
    for connection_id, key in keys:
        by_connection.setdefault(connection_id, []).append(key)
    found: list[tuple[int, str, int, str, JobStatus]] = []
    for connection_id, names in by_connection.items():
        for start in range(0, len(names), chunk):
            rows = db.execute(
                select(Job.connection_id, Job.idempotency_key, Job.id, Job.kind, Job.status)
                .where(Job.connection_id == connection_id, Job.idempotency_key.in_(names[start:start + chunk])))
            found.extend((row[0], row[1], row[2], row[3], row[4]) for row in rows)
    return found


# ---------------------------------------------------------------- reads (no clock, no writes)


def sent_under(db: Session, ticket: str) -> list[Job]:
    """The jobs in flight under ``ticket``, as row records (db/rows.py): what they sent or were last answered is only
    written now, not read."""
    rows.write(db)
    return _row_jobs(db, db.connection().execute(_SENT_UNDER, {"sent_ticket": ticket}))


def _row_jobs(db: Session, found: Iterable[Sequence[Any]]) -> list[Job]:
    return rows.records(db, Job, found, _READ_NAMES)


def orphaned(db: Session, connection_id: int, live_ticket: str | None) -> list[Job]:
    """Jobs left ``sent`` by a session of this connection that is not the live one (None: none is live)."""
    stmt = select(Job).where(Job.connection_id == connection_id, Job.status == JobStatus.SENT)
    if live_ticket is not None:
        stmt = stmt.where(or_(Job.ticket.is_(None), Job.ticket != live_ticket))
    return list(db.scalars(stmt))


def with_key(db: Session, connection_id: int, key: str) -> Job | None:
    return db.scalar(select(Job).where(Job.connection_id == connection_id, Job.idempotency_key == key))


def pending_with_key(db: Session, connection_id: int, key: str) -> Job | None:
    """The unfinished job with this idempotency key."""
    return db.scalar(select(Job).where(Job.connection_id == connection_id, Job.idempotency_key == key,
                                       Job.status.in_(PENDING)))


def pending_of_kind(db: Session, connection_id: int, kind: str) -> list[Job]:
    """Unfinished jobs of one kind, newest first."""
    return list(db.scalars(select(Job).where(Job.connection_id == connection_id, Job.kind == kind,
                                             Job.status.in_(PENDING)).order_by(Job.id.desc())))


def of_order(db: Session, connection_id: int, kind: str, order_key: str) -> list[Job]:
    """The jobs of one kind that bill one order and may still put (or have put) a document in QuickBooks:
    neither dead nor cancelled; oldest first."""
    return list(db.scalars(select(Job).where(
        Job.connection_id == connection_id, Job.order_key == order_key, Job.kind == kind,
        Job.status.not_in((JobStatus.DEAD, JobStatus.CANCELLED))).order_by(Job.id)))


def get_job(db: Session, job_id: int) -> Job:
    job = db.get(Job, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def list_jobs(
    db: Session,
    *,
    connection_id: int | None = None,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[Job]:
    """Newest first, their large columns left unloaded until read."""
    stmt = (select(Job).order_by(Job.id.desc()).limit(limit)
            .options(*(defer(getattr(Job, name)) for name in job_columns.LARGE_COLUMNS)))
    if connection_id is not None:
        stmt = stmt.where(Job.connection_id == connection_id)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    return list(db.scalars(stmt))


def delete_jobs_of(db: Session, connection_id: int) -> None:
    """Delete every job of a connection, whatever its status (the connection is being deleted; the caller
    decides whether unfinished ones may go)."""
    db.execute(delete(Job).where(Job.connection_id == connection_id))


# ---------------------------------------------------------------- pruning (retention.py decides when)


@dataclass(frozen=True)
class Finished:
    """A job retention lets go: deleted, or, when its key was the caller's, kept without its XML."""

    id: int
    key_given: bool


def prunable(db: Session, before: dict[JobStatus, datetime], limit: int) -> list[Finished]:
    """Up to ``limit`` jobs, oldest first, of the statuses in ``before`` that ended before their moment (done,
    cancelled and dead jobs when they finished, unknown ones when their outcome was lost), not pruned yet."""
    rows = db.execute(select(Job.id, Job.key_given).where(_ended_before(before)).order_by(Job.id).limit(limit))
    return [Finished(job_id, bool(given)) for job_id, given in rows]


def count_prunable(db: Session, before: dict[JobStatus, datetime]) -> tuple[int, int]:
    """How many jobs :func:`prunable` would give in all: (deleted, kept for their key)."""
    counts = dict(db.execute(select(Job.key_given, func.count()).where(_ended_before(before))
                             .group_by(Job.key_given)).all())
    return counts.get(False, 0), counts.get(True, 0)


def prunable_ids(before: dict[JobStatus, datetime]) -> Select[Any]:
    """The ids of every job :func:`prunable` would give, as a subquery."""
    return select(Job.id).where(_ended_before(before))


def _ended_before(before: dict[JobStatus, datetime]) -> ColumnElement[bool]:
    """Ended before the moment of its status, not pruned yet, and, unless done, waited on by no pending job (a job
    still waiting on one that is not done must go on waiting)."""
    ended = [and_(Job.status == status, (Job.updated_at if status == JobStatus.UNKNOWN else Job.finished_at) < moment)
             for status, moment in before.items()]
    waited_on = exists().where(_waiting.depends_on == Job.id, _waiting.status.in_(PENDING))
    return and_(or_(false(), *ended), Job.pruned_at.is_(None), or_(Job.status == JobStatus.DONE, ~waited_on))


_waiting = aliased(Job)


def delete_finished(db: Session, job_ids: list[int]) -> None:
    """Delete jobs :func:`prunable` gave; a job that waited on one of them (done, so the wait is over) no longer
    names it."""
    if not job_ids:
        return
    db.execute(update(Job).where(Job.depends_on.in_(job_ids)).values(depends_on=None)
               .execution_options(synchronize_session=False))
    db.execute(delete(Job).where(Job.id.in_(job_ids)).execution_options(synchronize_session=False))


def clear_finished(db: Session, job_ids: list[int], now: datetime) -> None:
    """Drop the XML and warnings of finished jobs kept for their key; their row, payload and result stay."""
    if not job_ids:
        return
    db.execute(update(Job).where(Job.id.in_(job_ids))
               .values(request_xml=None, lookup_xml=None, response_xml=None, warnings=None, pruned_at=now)
               .execution_options(synchronize_session=False))


def count_by_status(db: Session, connection_id: int | None = None) -> dict[str, int]:
    stmt = select(Job.status, func.count()).group_by(Job.status)
    if connection_id is not None:
        stmt = stmt.where(Job.connection_id == connection_id)
    return {str(status): count for status, count in db.execute(stmt).all()}


# The hot statements, built once with bound parameters: building them on every call cost more than running them.
# Due for sending: queued or failed-and-retrying, or lost but settleable by a lookup. The statuses are written as the
# due index's predicate, word for word (see models.CLAIMABLE_STATUSES), so that both engines read that index: the
# claim reads its first entries in order (connection, priority, id), whatever the depth of the queue.
_CLAIMABLE = and_(text(f"{Job.__tablename__}.{CLAIMABLE_STATUSES}"),
                  or_(Job.status != JobStatus.UNKNOWN, Job.reconcilable.is_(True)))
_WRITE_ONLY = ("warnings", "request_xml", "lookup_xml", "response_xml")
"""The large columns a Web Connector call writes and never reads: a job in flight holds them as rows.NOT_LOADED."""
_READ = tuple(column for column in rows.table_of(Job).c if column.name not in _WRITE_ONLY)
_READ_NAMES = tuple(column.name for column in _READ)
_NOT_CLAIMABLE = tuple(status for status in JobStatus if f"'{status.value}'" not in CLAIMABLE_STATUSES)
_dependency = aliased(Job)
# What a session may claim now: claimable, past its backoff, and not waiting on another job.
_DUE = and_(
    Job.connection_id == bindparam("due_connection"),
    _CLAIMABLE,
    or_(Job.not_before.is_(None), Job.not_before <= bindparam("due_now")),
    or_(Job.depends_on.is_(None),
        ~exists().where(and_(_dependency.id == Job.depends_on, _dependency.status != JobStatus.DONE))),
)
_SENT_UNDER = (select(*_READ).where(Job.ticket == bindparam("sent_ticket"),
                                            text(f"{Job.__tablename__}.{IN_FLIGHT}"))
               .order_by(Job.id))
_DUE_IN_ORDER = select(Job.id).where(_DUE).order_by(Job.priority.desc(), Job.id)
_DUE_COUNT = select(func.count()).select_from(Job).where(_DUE)
_DUE_AT_MOST = select(func.count()).select_from(_DUE_IN_ORDER.limit(bindparam("due_limit")).subquery())
_CLAIM = (
    update(Job)
    .where(
        Job.id.in_(
            _DUE_IN_ORDER.limit(bindparam("claim_limit")).with_for_update(skip_locked=True).scalar_subquery()
        ),
        # Checked again on the rows the subquery names (another transaction may have claimed one meanwhile), as the
        # statuses it is not: a term no status index can answer, so that SQLite finds the rows by their ids instead
        # of reading every claimable job through an index of statuses.
        text(f"{Job.__tablename__}.status NOT IN ({', '.join(repr(status.value) for status in _NOT_CLAIMABLE)})"),
        or_(Job.status != JobStatus.UNKNOWN, Job.reconcilable.is_(True)),
    )
    .values(status=JobStatus.SENT, ticket=bindparam("claim_ticket"), attempts=Job.attempts + 1,
            sent_at=bindparam("claim_now"), updated_at=bindparam("claim_now"), not_before=None)
    .returning(*_READ)
)
