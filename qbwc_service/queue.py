"""The job queue: the only module that writes ``qbwc_jobs``.

Statuses: ``queued -> sent -> done | failed | dead | unknown``, and ``cancelled``.
``failed`` means "failed this attempt, retried at not_before"; ``dead`` needs a person;
``unknown`` means the job was sent and its outcome was lost, so it is never re-sent blindly.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from qbwc_service.db.engine import utcnow
from qbwc_service.db.models import Event, Job
from qbwc_service.errors import JobNotFound, JobStateConflict

log = logging.getLogger(__name__)

QUEUED, SENT, DONE, FAILED, DEAD, UNKNOWN, CANCELLED = (
    "queued", "sent", "done", "failed", "dead", "unknown", "cancelled",
)
STATUSES = (QUEUED, SENT, DONE, FAILED, DEAD, UNKNOWN, CANCELLED)
CLAIMABLE = (QUEUED, FAILED)
MAX_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True)
class Enqueued:
    job: Job
    created: bool


def enqueue(
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
) -> Enqueued:
    """Queue a job; a second call with the same key returns the first job and creates nothing."""
    now = utcnow()
    key = key or f"{kind}:{secrets.token_hex(12)}"
    values = {
        "connection_id": connection_id,
        "kind": kind,
        "payload": payload,
        "idempotency_key": key,
        "status": QUEUED,
        "priority": priority,
        "read_only": read_only,
        "reconcilable": reconcilable,
        "attempts": 0,
        "depends_on": depends_on,
        "created_at": now,
        "updated_at": now,
    }
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(Job).values(values).on_conflict_do_nothing(
            index_elements=["connection_id", "idempotency_key"]
        )
    elif dialect == "sqlite":
        stmt = sqlite.insert(Job).values(values).on_conflict_do_nothing(
            index_elements=["connection_id", "idempotency_key"]
        )
    else:  # pragma: no cover - only the two supported engines reach here
        stmt = insert(Job).values(values)
    new_id = db.execute(stmt.returning(Job.id)).scalar()
    job = db.scalar(
        select(Job).where(Job.connection_id == connection_id, Job.idempotency_key == key)
    )
    assert job is not None
    if new_id is not None:
        _event(db, job, "enqueued", kind)
    return Enqueued(job, new_id is not None)


def claim_batch(db: Session, connection_id: int, ticket: str, limit: int) -> list[Job]:
    """Atomically mark up to ``limit`` due jobs as sent under ``ticket``; one statement.

    PostgreSQL skips rows another transaction holds (FOR UPDATE SKIP LOCKED); SQLite, which
    ignores FOR UPDATE, is kept correct by the status guard and its single writer.
    """
    now = utcnow()
    params = {"due_connection": connection_id, "due_now": now, "claim_limit": limit, "claim_ticket": ticket,
              "claim_now": now}
    jobs = sorted(db.scalars(_CLAIM, params).all(), key=lambda j: (-j.priority, j.id))
    _events(db, jobs, "sent", ticket=ticket)
    return jobs


def record_request(db: Session, jobs: Sequence[Job], request_xml: dict[int, str]) -> None:
    for job in jobs:
        job.request_xml = request_xml.get(job.id)


def complete(
    db: Session,
    job: Job,
    *,
    response_xml: str | None,
    status_code: str = "0",
    status_message: str = "",
    result: dict[str, Any] | None = None,
) -> None:
    _finish(db, job, DONE, response_xml, status_code, status_message, result)


def kill(
    db: Session,
    job: Job,
    *,
    response_xml: str | None,
    status_code: str | None,
    status_message: str,
) -> None:
    """The job cannot succeed without a person acting: dead, with the reason kept."""
    _finish(db, job, DEAD, response_xml, status_code, status_message, None)
    _kill_dependents(db, job)


def fail(
    db: Session,
    job: Job,
    *,
    response_xml: str | None,
    status_code: str | None,
    status_message: str,
    max_attempts: int,
    backoff_seconds: int,
) -> None:
    """A transient failure: retried after a backoff that doubles, dead after max_attempts."""
    if job.attempts >= max_attempts:
        kill(
            db, job, response_xml=response_xml, status_code=status_code,
            status_message=f"{status_message} (gave up after {job.attempts} attempts)",
        )
        return
    delay = min(timedelta(seconds=backoff_seconds * 2 ** max(job.attempts - 1, 0)), MAX_BACKOFF)
    _finish(db, job, FAILED, response_xml, status_code, status_message, None)
    job.not_before = utcnow() + delay
    job.finished_at = None


def release_lost(db: Session, jobs: Iterable[Job], reason: str) -> None:
    """The outcome of sent jobs was lost: queries go back to the queue (re-reading is harmless),
    writes become ``unknown`` and wait for reconciliation or an operator."""
    for job in jobs:
        if job.status != SENT:
            continue
        job.status = QUEUED if job.read_only else UNKNOWN
        if job.reconcilable:
            job.cursor = _lost_cursor(job)
        job.status_message = reason
        job.updated_at = utcnow()
        _event(db, job, job.status, reason)


def continue_later(db: Session, job: Job, cursor: dict[str, Any], note: str) -> None:
    """A paged job read one page: back on the queue at once, its cursor kept, the page not counted
    as an attempt (attempts count failures and fresh starts, not pages)."""
    job.cursor = cursor
    job.status = QUEUED
    job.attempts = max(job.attempts - 1, 0)
    job.not_before = None
    job.status_message = note
    job.updated_at = utcnow()


def mark_unknown(db: Session, job: Job, reason: str) -> None:
    """The job was sent and its outcome cannot be known; it waits for reconciliation or an operator."""
    if job.status != SENT:
        return
    job.status = UNKNOWN
    if job.reconcilable:
        job.cursor = _lost_cursor(job)
    job.status_message = reason
    job.updated_at = utcnow()
    _event(db, job, UNKNOWN, reason)


def _lost_cursor(job: Job) -> dict[str, Any]:
    """Mark the job for a lookup, remembering when the lost attempt went out: the next claim resets
    sent_at, and the lookup must reach back to the first attempt whose outcome is unknown."""
    cursor = dict(job.cursor or {})
    cursor["reconcile"] = True
    if job.sent_at is not None and "lost_sent_at" not in cursor:
        cursor["lost_sent_at"] = job.sent_at.isoformat()
    return cursor


def sent_under(db: Session, ticket: str) -> list[Job]:
    return list(db.scalars(select(Job).where(Job.ticket == ticket, Job.status == SENT).order_by(Job.id)))


def jobs_by_id(db: Session, ids: Iterable[int]) -> dict[int, Job]:
    wanted = list(ids)
    if not wanted:
        return {}
    return {job.id: job for job in db.scalars(select(Job).where(Job.id.in_(wanted)))}


def due_count(db: Session, connection_id: int, now: datetime | None = None) -> int:
    """Jobs that a session could claim now."""
    return db.scalar(_DUE_COUNT, {"due_connection": connection_id, "due_now": now or utcnow()}) or 0


def orphaned(db: Session, connection_id: int, live_ticket: str | None) -> list[Job]:
    """Jobs left ``sent`` by a session of this connection that is not the live one (None: none is live)."""
    stmt = select(Job).where(Job.connection_id == connection_id, Job.status == SENT)
    if live_ticket is not None:
        stmt = stmt.where(or_(Job.ticket.is_(None), Job.ticket != live_ticket))
    return list(db.scalars(stmt))


def retry(db: Session, job_id: int) -> Job:
    """Operator's retry: a failed, dead, unknown or cancelled job goes back to the queue now."""
    job = get_job(db, job_id)
    if job.status not in (FAILED, DEAD, UNKNOWN, CANCELLED):
        raise JobStateConflict(
            f"job {job_id} is {job.status}; only failed, dead, unknown or cancelled jobs can be retried"
        )
    job.status = QUEUED
    job.not_before = None
    job.attempts = 0
    job.updated_at = utcnow()
    job.finished_at = None
    # Plans made inside a session (read an entry back before linking or re-sending) start over; what
    # keeps a write safe (a pending lookup of a lost add) and a pull's progress are kept.
    job.cursor = {k: v for k, v in (job.cursor or {}).items() if k not in ("link_existing", "requery")} or None
    _event(db, job, "retried", "by operator")
    return job


def cancel(db: Session, job_id: int) -> Job:
    job = get_job(db, job_id)
    if job.status not in (QUEUED, FAILED, UNKNOWN, DEAD):
        raise JobStateConflict(f"job {job_id} is {job.status}; it cannot be cancelled")
    job.status = CANCELLED
    job.updated_at = job.finished_at = utcnow()
    _event(db, job, "cancelled", "by operator")
    _kill_dependents(db, job)
    return job


_PENDING = (QUEUED, SENT, FAILED, UNKNOWN)


def pending_with_key(db: Session, connection_id: int, key: str) -> Job | None:
    """The unfinished job with this idempotency key."""
    return db.scalar(select(Job).where(Job.connection_id == connection_id, Job.idempotency_key == key,
                                       Job.status.in_(_PENDING)))


def pending_of_kind(db: Session, connection_id: int, kind: str) -> list[Job]:
    """Unfinished jobs of one kind, newest first."""
    return list(db.scalars(select(Job).where(Job.connection_id == connection_id, Job.kind == kind,
                                             Job.status.in_(_PENDING)).order_by(Job.id.desc())))


def get_job(db: Session, job_id: int) -> Job:
    job = db.get(Job, job_id)
    if job is None:
        raise JobNotFound(f"no job {job_id}")
    return job


def list_jobs(
    db: Session,
    *,
    connection_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[Job]:
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if connection_id is not None:
        stmt = stmt.where(Job.connection_id == connection_id)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    return list(db.scalars(stmt))


def count_by_status(db: Session, connection_id: int | None = None) -> dict[str, int]:
    stmt = select(Job.status, func.count()).group_by(Job.status)
    if connection_id is not None:
        stmt = stmt.where(Job.connection_id == connection_id)
    return {status: count for status, count in db.execute(stmt).all()}


def _finish(
    db: Session,
    job: Job,
    status: str,
    response_xml: str | None,
    status_code: str | None,
    status_message: str,
    result: dict[str, Any] | None,
) -> None:
    now = utcnow()
    job.status = status
    job.response_xml = response_xml
    job.status_code = status_code
    job.status_message = status_message
    if result is not None:
        job.result = result
    job.updated_at = job.finished_at = now
    _event(db, job, status, f"{status_code or ''} {status_message}".strip())


def _kill_dependents(db: Session, job: Job) -> None:
    waiting = db.scalars(
        select(Job).where(Job.depends_on == job.id, Job.status.in_(CLAIMABLE))
    ).all()
    for dependent in waiting:
        kill(
            db, dependent, response_xml=None, status_code=None,
            status_message=f"job {job.id}, which this job needs first, is {job.status}: {job.status_message}",
        )


def _event(db: Session, job: Job, kind: str, detail: str | None = None, ticket: str | None = None) -> None:
    db.add(Event(at=utcnow(), connection_id=job.connection_id, job_id=job.id, ticket=ticket or job.ticket,
                 kind=f"job-{kind}", detail=detail))


def _events(db: Session, jobs: Sequence[Job], kind: str, ticket: str) -> None:
    if not jobs:
        return
    now = utcnow()
    db.execute(
        insert(Event),
        [
            {"at": now, "connection_id": j.connection_id, "job_id": j.id, "ticket": ticket, "kind": f"job-{kind}"}
            for j in jobs
        ],
    )


# The hot statements, built once with bound parameters: building them on every call cost more than running them.
# Due for sending: queued or failed-and-retrying, or lost but settleable by a lookup; written as one IN on
# status (plus a filter) so that the claim index serves it, since done jobs pile up.
_CLAIMABLE = and_(Job.status.in_((*CLAIMABLE, UNKNOWN)), or_(Job.status != UNKNOWN, Job.reconcilable.is_(True)))
_dependency = aliased(Job)
# What a session may claim now: claimable, past its backoff, and not waiting on another job.
_DUE = and_(
    Job.connection_id == bindparam("due_connection"),
    _CLAIMABLE,
    or_(Job.not_before.is_(None), Job.not_before <= bindparam("due_now")),
    or_(Job.depends_on.is_(None),
        ~exists().where(and_(_dependency.id == Job.depends_on, _dependency.status != DONE))),
)
_DUE_COUNT = select(func.count()).select_from(Job).where(_DUE)
_CLAIM = (
    update(Job)
    .where(
        Job.id.in_(
            select(Job.id).where(_DUE).order_by(Job.priority.desc(), Job.id).limit(bindparam("claim_limit"))
            .with_for_update(skip_locked=True).scalar_subquery()
        ),
        _CLAIMABLE,
    )
    .values(status=SENT, ticket=bindparam("claim_ticket"), attempts=Job.attempts + 1,
            sent_at=bindparam("claim_now"), updated_at=bindparam("claim_now"), not_before=None)
    .returning(Job)
    .execution_options(synchronize_session=False, populate_existing=True)
)
