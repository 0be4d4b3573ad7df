"""Reads of jobs and their audit trail for the operator's surfaces (the API, the CLI, the pages): a page of jobs
by filter, the newest job of a kind, a job's events. Reads only: ``queue`` is the one writer of jobs.

Every read here is bounded (a page, a limit) and served by an index: the primary key walked newest first, with
the filters applied on the way, or the index on (connection, status)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from qbwc_service import job_columns
from qbwc_service.db.enums import JobStatus
from qbwc_service.db.models import Event, Job


@dataclass(frozen=True)
class JobFilter:
    """Which jobs: each field given narrows the choice (statuses: any of them); created_* are naive UTC, from
    inclusive, to exclusive."""

    connection_id: int | None = None
    statuses: tuple[JobStatus, ...] = ()
    kind: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def where(self) -> list[Any]:
        clauses: list[Any] = []
        if self.connection_id is not None:
            clauses.append(Job.connection_id == self.connection_id)
        if self.statuses:
            clauses.append(Job.status.in_(self.statuses))
        if self.kind is not None:
            clauses.append(Job.kind == self.kind)
        if self.created_from is not None:
            clauses.append(Job.created_at >= self.created_from)
        if self.created_to is not None:
            clauses.append(Job.created_at < self.created_to)
        return clauses


@dataclass(frozen=True)
class JobPage:
    """Jobs newest first, their large columns unloaded; ``next_before``: the id to continue below (None: the last
    page)."""

    jobs: list[Job]
    next_before: int | None


def page_of_jobs(db: Session, chosen: JobFilter, *, before: int | None = None, limit: int = 50) -> JobPage:
    """One page of the jobs ``chosen`` selects, newest first, below the id ``before`` when given."""
    stmt = (select(Job).where(*chosen.where()).order_by(Job.id.desc()).limit(limit + 1)
            .options(*(defer(getattr(Job, name)) for name in job_columns.LARGE_COLUMNS)))
    if before is not None:
        stmt = stmt.where(Job.id < before)
    found = list(db.scalars(stmt))
    more = len(found) > limit
    jobs = found[:limit]
    return JobPage(jobs, jobs[-1].id if more and jobs else None)


def ids_of_jobs(db: Session, chosen: JobFilter, limit: int) -> list[int]:
    """The ids of at most ``limit`` jobs ``chosen`` selects, oldest first (the order they are acted on)."""
    return list(db.scalars(select(Job.id).where(*chosen.where()).order_by(Job.id).limit(limit)))


def newest_of_kind(db: Session, connection_id: int, kind: str) -> Job | None:
    """The connection's newest job of one kind (its large columns unloaded)."""
    return db.scalar(select(Job).where(Job.connection_id == connection_id, Job.kind == kind)
                     .order_by(Job.id.desc()).limit(1)
                     .options(*(defer(getattr(Job, name)) for name in job_columns.LARGE_COLUMNS)))


def contents_of(db: Session, ids: Sequence[int], chunk: int = 500) -> dict[int, tuple[str, dict[str, Any]]]:
    """The kind and payload of each job named."""
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for start in range(0, len(ids), chunk):
        for row in db.execute(select(Job.id, Job.kind, Job.payload).where(Job.id.in_(ids[start:start + chunk]))):
            found[row[0]] = (row[1], row[2])
    return found


def events_of_job(db: Session, job_id: int, limit: int = 200) -> list[Event]:
    """A job's audit trail, oldest first: its last ``limit`` events."""
    newest = list(db.scalars(select(Event).where(Event.job_id == job_id).order_by(Event.id.desc()).limit(limit)))
    return newest[::-1]
