"""Renaming and deleting a connection, on every engine: a deletion takes all the connection holds in one
transaction, and nothing of another connection."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connection_usecases, connections, deliveries, links
from qbwc_service.clock import FakeClock
from qbwc_service.db.enums import EventKind, JobStatus, SessionState
from qbwc_service.db.models import Connection, Delivery, Event, Job, Link, SyncState, WebConnectorSession
from qbwc_service.errors import ConnectionBusy, ConnectionExists
from qbwc_service.queue import JobQueue, RetryPolicy

pytestmark = pytest.mark.each_database

clock = FakeClock()
job_queue = JobQueue(clock, RetryPolicy())
NOW = datetime(2026, 11, 1, 12, 0)


def _fill(db: Session, name: str) -> int:
    """A connection with two jobs (the second depends on the first), a session, a link, a pulled record and a
    stream mark."""
    connection = connections.create_connection(db, name, clock).connection
    first = job_queue.enqueue(db, connection.id, "raw", {"request": "<CustomerAddRq/>"}).job
    second = job_queue.enqueue(db, connection.id, "raw", {"request": "<InvoiceAddRq/>"}, depends_on=first.id).job
    first.status = second.status = JobStatus.DONE
    db.add(WebConnectorSession(ticket=f"ticket-{name}", connection_id=connection.id, state=SessionState.CLOSED,
                               created_at=NOW, last_activity_at=NOW, expires_at=NOW + timedelta(hours=1)))
    links.record(db, connection.id, "raw", "c-1", qbd_type="Customer", qbd_id="80000001-1", job_id=first.id, now=NOW)
    db.add(Delivery(connection_id=connection.id, job_id=second.id, entity="Customer", qbd_id="80000001-1",
                    edit_sequence="1", ret_xml="<CustomerRet/>", status="pending", created_at=NOW))
    deliveries.advance(db, connection.id, "Customer", "2026-11-01T00:00:00", NOW)
    return connection.id


def _rows(db: Session, connection_id: int) -> dict[str, int]:
    return {model.__tablename__: db.scalar(select(func.count()).select_from(model)
                                           .where(model.connection_id == connection_id)) or 0
            for model in (Job, WebConnectorSession, Event, Link, Delivery, SyncState)}


def test_deleting_a_connection_takes_all_it_holds_and_nothing_else(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as db:
        doomed, kept = _fill(db, "Doomed"), _fill(db, "Kept")
    with sessions.begin() as db:
        before = _rows(db, kept)
        deleted = connection_usecases.delete_connection(db, "Doomed", clock=clock)
    assert deleted == connections.Holdings(jobs=2, sessions=1, events=3, links=1, deliveries=1)
    with sessions.begin() as db:
        assert db.get(Connection, doomed) is None and set(_rows(db, doomed).values()) == {0}
        assert _rows(db, kept) == before
        note = db.scalar(select(Event).where(Event.kind == EventKind.CONNECTION_DELETED))
        assert note is not None and note.connection_id is None and note.detail is not None
        assert note.detail.startswith("Doomed (doomed): 2 jobs")


def test_a_connection_with_unfinished_jobs_is_deleted_only_when_forced(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as db:
        connection_id = _fill(db, "Busy")
        job_queue.enqueue(db, connection_id, "probe", {})
    with pytest.raises(ConnectionBusy) as refused, sessions.begin() as db:
        connection_usecases.delete_connection(db, "Busy", clock=clock)
    assert refused.value.unfinished == {"queued": 1}
    with sessions.begin() as db:
        assert _rows(db, connection_id)["qbwc_jobs"] == 3
        assert connection_usecases.delete_connection(db, "Busy", force=True, clock=clock).jobs == 3
    with sessions.begin() as db:
        assert db.get(Connection, connection_id) is None


def test_renaming_keeps_the_username_and_refuses_a_name_in_use(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as db:
        connections.create_connection(db, "Old Name", clock)
        connections.create_connection(db, "Taken", clock)
    with sessions.begin() as db:
        renamed = connection_usecases.rename_connection(db, "Old Name", "New Name", clock)
        assert (renamed.name, renamed.username) == ("New Name", "old-name")
    with pytest.raises(ConnectionExists), sessions.begin() as db:
        connection_usecases.rename_connection(db, "New Name", "Taken", clock)
    with sessions.begin() as db:
        assert connections.find_by_username(db, "old-name").name == "New Name"  # type: ignore[union-attr]
        assert db.scalar(select(Event.detail).where(Event.kind == EventKind.CONNECTION_RENAMED)) == (
            "Old Name -> New Name")
