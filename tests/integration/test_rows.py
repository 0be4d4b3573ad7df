"""The jobs of a Web Connector call as rows (db/rows.py): what the queue changes on them is in the database before
the session reads or commits, a rolled-back savepoint puts them back, and the large columns they do not load are
neither read by mistake nor overwritten."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections
from qbwc_service.clock import FakeClock
from qbwc_service.db import rows
from qbwc_service.db.enums import JobStatus
from qbwc_service.db.models import Job
from qbwc_service.queue import JobQueue, RetryPolicy, get_job, sent_under
from qbwc_service.settlements import Continue, Done, Lost

clock = FakeClock()
queue = JobQueue(clock, RetryPolicy(max_attempts=5, backoff_seconds=0))

pytestmark = pytest.mark.each_database  # the writes are the engine's executemany; the savepoint, its transactions


@pytest.fixture
def claimed(sessions: sessionmaker[Session]) -> list[int]:
    """Two raw jobs, sent under ticket "t"; the first with a request of an earlier attempt on record."""
    with sessions.begin() as db:
        connection_id = connections.create_connection(db, "rows-test").connection.id
        ids = [queue.enqueue(db, connection_id, "raw", {"request": f"<R{i}/>"}).job.id for i in range(2)]
        db.execute(update(Job).where(Job.id == ids[0]).values(request_xml="<Earlier/>", response_xml="<Old/>"))
    with sessions.begin() as db:
        assert [job.id for job in queue.claim_batch(db, connection_id, "t", 2)] == ids
    return ids


def _status(db: Session, job_id: int) -> JobStatus:
    status = db.scalar(select(Job.status).where(Job.id == job_id))
    assert status is not None
    return status


def test_a_query_while_settling_sees_the_jobs_settled_so_far(sessions: sessionmaker[Session],
                                                             claimed: list[int]) -> None:
    with sessions.begin() as db:
        first, second = sent_under(db, "t")
        queue.settle(db, first, Continue("again"))
        assert _status(db, first.id) == JobStatus.QUEUED  # written before the query, as the ORM's autoflush would
        assert _status(db, second.id) == JobStatus.SENT
        queue.settle(db, second, Done(response_xml="<Answer/>"))
    with sessions.begin() as db:
        assert _status(db, second.id) == JobStatus.DONE  # written before the commit
        assert get_job(db, second.id).response_xml == "<Answer/>"


def test_a_rolled_back_savepoint_puts_the_jobs_back(sessions: sessionmaker[Session], claimed: list[int]) -> None:
    with sessions.begin() as db:
        first, second = sent_under(db, "t")
        with pytest.raises(RuntimeError), rows.savepoint(db):
            queue.settle(db, first, Done(response_xml="<Answer/>"))
            assert _status(db, first.id) == JobStatus.DONE  # written inside the savepoint
            raise RuntimeError("settling the second job failed")
        # The database rolled back to the savepoint, and the job in hand says what the database says: a lost outcome
        # applies to it (a job that thought itself done would ignore it and stay sent for ever).
        assert first.status == JobStatus.SENT and first.response_xml is rows.NOT_LOADED
        queue.settle(db, first, Lost("the answer could not be processed"))
        queue.settle(db, second, Lost("the answer could not be processed"))
    with sessions.begin() as db:
        assert _status(db, first.id) == _status(db, second.id) == JobStatus.UNKNOWN
        assert get_job(db, first.id).response_xml == "<Old/>"


def test_the_large_columns_not_loaded_refuse_to_be_read_and_are_kept(sessions: sessionmaker[Session],
                                                                      claimed: list[int]) -> None:
    with sessions.begin() as db:
        first, _second = sent_under(db, "t")
        assert first.payload == {"request": "<R0/>"}
        with pytest.raises(RuntimeError, match="does not read"):
            str(first.request_xml)
        queue.settle(db, first, Done(response_xml=None))
    with sessions.begin() as db:
        job = get_job(db, claimed[0])
        assert job.status == JobStatus.DONE
        assert job.request_xml == "<Earlier/>"  # not set on this path: kept
        assert job.response_xml is None  # set to nothing: written as nothing


def test_a_rolled_back_transaction_forgets_the_jobs_changes(sessions: sessionmaker[Session],
                                                            claimed: list[int]) -> None:
    db = sessions()
    try:
        with pytest.raises(RuntimeError), db.begin():
            first, _second = sent_under(db, "t")
            queue.settle(db, first, Done(response_xml="<Answer/>"))
            raise RuntimeError("the call failed")
        with db.begin():  # the same session's next transaction writes nothing of the one rolled back
            assert _status(db, claimed[0]) == JobStatus.SENT
        with db.begin():
            assert _status(db, claimed[0]) == JobStatus.SENT
    finally:
        db.close()
