"""What /metrics reports, read from the database at scrape time: every query bounded and served by an index, so a
scrape costs the same however many jobs and sessions are done.

- the unfinished jobs (queued, sent, failed, unknown) and the dead ones, by connection and status: the index on
  (status, connection_id) reads those rows alone, never the done and cancelled ones that pile up;
- the oldest queued job's age, per connection (the same index);
- the open sessions (index on (state, connection_id));
- the sessions active in the recent window and their round trips (index on last_activity_at);
- the QuickBooks status codes of the jobs settled in that window (index on updated_at);
- the pulled records waiting to be delivered to Fusion (index on (connection_id, status, id)).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from qbwc_service import connections
from qbwc_service.db.enums import DeliveryStatus, JobStatus, SessionState
from qbwc_service.db.models import Delivery, Job, WebConnectorSession

COUNTED = (JobStatus.QUEUED, JobStatus.SENT, JobStatus.FAILED, JobStatus.UNKNOWN, JobStatus.DEAD)
"""The statuses the queue depth counts: those that still need the service or a person."""


@dataclass(frozen=True)
class Snapshot:
    """One scrape's numbers, keyed by connection name (and status, or QuickBooks status code)."""

    connections: list[str]
    jobs: dict[tuple[str, str], int]
    oldest_queued_seconds: dict[str, float]
    open_sessions: dict[str, int]
    recent_sessions: dict[str, int]
    recent_round_trips: dict[str, int]
    recent_status_codes: dict[tuple[str, str], int]
    deliveries_pending: dict[str, int]
    window_seconds: int


def snapshot(db: Session, now: datetime, window: timedelta) -> Snapshot:
    names = connections.names_by_id(db)
    since = now - window

    def by_connection(rows: Iterable[Any]) -> dict[str, int]:
        return {names[row[0]]: int(row[1] or 0) for row in rows if row[0] in names}

    jobs = {(names[row[0]], str(row[1])): int(row[2]) for row in db.execute(
        select(Job.connection_id, Job.status, func.count()).where(Job.status.in_(COUNTED))
        .group_by(Job.connection_id, Job.status)) if row[0] in names}
    oldest = {names[row[0]]: max((now - row[1]).total_seconds(), 0.0) for row in db.execute(
        select(Job.connection_id, func.min(Job.created_at)).where(Job.status == JobStatus.QUEUED)
        .group_by(Job.connection_id)) if row[0] in names and row[1] is not None}
    open_sessions = by_connection(db.execute(
        select(WebConnectorSession.connection_id, func.count())
        .where(WebConnectorSession.state == SessionState.OPEN, WebConnectorSession.expires_at >= now)
        .group_by(WebConnectorSession.connection_id)))
    recent = list(db.execute(
        select(WebConnectorSession.connection_id, func.count(), func.sum(WebConnectorSession.message_sets))
        .where(WebConnectorSession.last_activity_at >= since).group_by(WebConnectorSession.connection_id)))
    codes = {(names[row[0]], str(row[1])): int(row[2]) for row in db.execute(
        select(Job.connection_id, Job.status_code, func.count())
        .where(Job.updated_at >= since, Job.status_code.is_not(None))
        .group_by(Job.connection_id, Job.status_code)) if row[0] in names}
    deliveries = by_connection(db.execute(
        select(Delivery.connection_id, func.count()).where(Delivery.status == DeliveryStatus.PENDING)
        .group_by(Delivery.connection_id)))
    return Snapshot(
        connections=sorted(names.values()), jobs=jobs, oldest_queued_seconds=oldest, open_sessions=open_sessions,
        recent_sessions={names[row[0]]: int(row[1]) for row in recent if row[0] in names},
        recent_round_trips={names[row[0]]: int(row[2] or 0) for row in recent if row[0] in names},
        recent_status_codes=codes, deliveries_pending=deliveries, window_seconds=int(window.total_seconds()))
