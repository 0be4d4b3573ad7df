"""Retention: what the service lets go of, and when (the ``retention_*`` settings).

- Done and cancelled jobs, ``retention_done_days`` after they finished, with their events. A job whose key was
  its caller's (a Fusion entity's, an operator's ``--key``) is what stops the same work from being queued twice,
  so its row stays, without its XML, warnings and events (``pruned_at`` says when); any other job is deleted, and
  the links and pulled records it made stay, naming no job.
- Dead and unknown jobs are kept until a person (or a lookup) settles them, unless ``retention_dead_days`` or
  ``retention_unknown_days`` is set. Queued, sent and failed jobs are never pruned.
- Ended Web Connector sessions, and the events of no job (sessions, refused logins, connection changes),
  ``retention_history_days`` after.
- The rows of service processes not seen for a day (stopped without saying so).

The work goes in batches of BATCH rows, one short transaction each, so that pruning never holds the database
for long; ``max_rows`` bounds one run, and the next run goes on where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import deliveries, links, processes, queue
from qbwc_service.clock import Clock
from qbwc_service.db.enums import JobStatus, SessionState
from qbwc_service.db.models import Event, WebConnectorSession
from qbwc_service.settings import Settings

BATCH = 500
PROCESS_ROWS_KEPT = timedelta(days=1)


@dataclass
class PruneReport:
    """What a prune did (or, for a dry run, would do)."""

    jobs_deleted: int = 0
    jobs_cleared: int = 0
    """Jobs kept for their key, whose XML, warnings and events went."""
    events_deleted: int = 0
    sessions_deleted: int = 0
    processes_deleted: int = 0
    complete: bool = True
    """False when the run stopped (``max_rows``, or a stop asked for) with more left to prune."""

    @property
    def rows(self) -> int:
        return (self.jobs_deleted + self.jobs_cleared + self.events_deleted + self.sessions_deleted
                + self.processes_deleted)


@dataclass(frozen=True)
class Cutoffs:
    """The moments before which each kind of row is let go."""

    jobs: dict[JobStatus, datetime]
    history: datetime
    processes: datetime
    now: datetime

    @classmethod
    def of(cls, settings: Settings, now: datetime) -> Cutoffs:
        done = now - timedelta(days=settings.retention_done_days)
        jobs = {JobStatus.DONE: done, JobStatus.CANCELLED: done}
        if settings.retention_dead_days is not None:
            jobs[JobStatus.DEAD] = now - timedelta(days=settings.retention_dead_days)
        if settings.retention_unknown_days is not None:
            jobs[JobStatus.UNKNOWN] = now - timedelta(days=settings.retention_unknown_days)
        return cls(jobs, now - timedelta(days=settings.retention_history_days), now - PROCESS_ROWS_KEPT, now)


Step = Callable[[Session, Cutoffs, PruneReport, int], int]


def prune(sessions: sessionmaker[Session], settings: Settings, clock: Clock, *, max_rows: int | None = None,
          should_stop: Callable[[], bool] = lambda: False) -> PruneReport:
    """Let go of what retention allows, in batches; at most about ``max_rows`` rows (None: all)."""
    cut = Cutoffs.of(settings, clock.now())
    report = PruneReport()
    steps: tuple[Step, ...] = (_jobs, _history_events, _ended_sessions)
    for step in steps:
        while True:
            room = BATCH if max_rows is None else min(BATCH, max_rows - report.rows)
            if room <= 0 or should_stop():
                report.complete = False
                return report
            with sessions.begin() as db:
                found = step(db, cut, report, room)
            if found < room:
                break
    with sessions.begin() as db:
        report.processes_deleted = processes.prune(db, cut.processes)
    return report


def count(sessions: sessionmaker[Session], settings: Settings, clock: Clock) -> PruneReport:
    """What :func:`prune` would let go now, counted, nothing changed."""
    cut = Cutoffs.of(settings, clock.now())
    with sessions.begin() as db:
        gone, kept = queue.count_prunable(db, cut.jobs)
        events = db.scalar(select(func.count()).select_from(Event).where(or_(
            Event.job_id.in_(queue.prunable_ids(cut.jobs)), _history_event(cut)))) or 0
        ended = db.scalar(select(func.count()).select_from(WebConnectorSession).where(_ended_session(cut))) or 0
        stopped = processes.count_before(db, cut.processes)
    return PruneReport(gone, kept, events, ended, stopped)


def _jobs(db: Session, cut: Cutoffs, report: PruneReport, limit: int) -> int:
    found = queue.prunable(db, cut.jobs, limit)
    gone = [job.id for job in found if not job.key_given]
    kept = [job.id for job in found if job.key_given]
    if found:
        result = db.execute(delete(Event).where(Event.job_id.in_([job.id for job in found]))
                            .execution_options(synchronize_session=False))
        report.events_deleted += _count(result)
    links.forget_jobs(db, gone)
    deliveries.forget_jobs(db, gone)
    queue.delete_finished(db, gone)
    queue.clear_finished(db, kept, cut.now)
    report.jobs_deleted += len(gone)
    report.jobs_cleared += len(kept)
    return len(found)


def _history_events(db: Session, cut: Cutoffs, report: PruneReport, limit: int) -> int:
    ids = list(db.scalars(select(Event.id).where(_history_event(cut)).order_by(Event.id).limit(limit)))
    if ids:
        db.execute(delete(Event).where(Event.id.in_(ids)).execution_options(synchronize_session=False))
    report.events_deleted += len(ids)
    return len(ids)


def _ended_sessions(db: Session, cut: Cutoffs, report: PruneReport, limit: int) -> int:
    ids = list(db.scalars(select(WebConnectorSession.id).where(_ended_session(cut))
                          .order_by(WebConnectorSession.id).limit(limit)))
    if ids:
        db.execute(delete(WebConnectorSession).where(WebConnectorSession.id.in_(ids))
                   .execution_options(synchronize_session=False))
    report.sessions_deleted += len(ids)
    return len(ids)


def _history_event(cut: Cutoffs) -> ColumnElement[bool]:
    return Event.job_id.is_(None) & (Event.at < cut.history)


def _ended_session(cut: Cutoffs) -> ColumnElement[bool]:
    """A session over for longer than the history is kept: ended then, or last heard of then and long expired."""
    session = WebConnectorSession
    return (func.coalesce(session.closed_at, session.last_activity_at) < cut.history) & or_(
        session.state != SessionState.OPEN, session.expires_at < cut.history)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
