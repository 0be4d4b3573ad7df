"""A job's large columns (payload, warnings, request and response XML) are read in pieces, never whole, on every
engine: what keeps `jobs show` bounded whatever a job's size."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections, job_columns, queue
from qbwc_service.clock import FakeClock
from qbwc_service.db.engine import make_sessionmaker, reading
from qbwc_service.db.models import Job
from qbwc_service.errors import JobNotFound

pytestmark = pytest.mark.each_database

job_queue = queue.JobQueue(FakeClock(), queue.RetryPolicy())
# Two-byte and four-byte characters, so that pieces cut through them.
RESPONSE = "<QBXML>" + "".join(f"<Line n='{i}'>Łódź 🏭 {i}</Line>\n" for i in range(20_000)) + "</QBXML>"


@pytest.fixture
def job_id(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as db:
        connection = connections.create_connection(db, "columns").connection
        job = job_queue.enqueue(db, connection.id, "raw", {"request": "<CustomerQueryRq/>"}).job
        job.response_xml = RESPONSE
        job.warnings = ["Name cut to 41 characters"]
        return job.id


def test_a_large_column_is_read_in_pieces_that_make_it_whole(engine: Engine, job_id: int) -> None:
    with make_sessionmaker(reading(engine)).begin() as db:
        assert job_columns.large_column_size(db, job_id, "response_xml") == len(RESPONSE.encode("utf-8"))
        pieces = list(job_columns.read_large_column(db, job_id, "response_xml", 1000))
        assert "".join(pieces) == RESPONSE and len(pieces) > 100
        assert all(len(piece.encode("utf-8")) <= 4000 for piece in pieces)
        head = job_columns.read_large_column_head(db, job_id, "response_xml", 1000)
        assert head is not None and RESPONSE.startswith(head) and 250 <= len(head) <= 1000
        assert job_columns.large_column_size(db, job_id, "request_xml") is None  # never sent
        assert job_columns.read_large_column_head(db, job_id, "request_xml", 1000) is None
        assert "".join(job_columns.read_large_column(db, job_id, "warnings", 5)) == '["Name cut to 41 characters"]'


def test_a_job_summary_never_loads_the_large_columns(sessions: sessionmaker[Session], job_id: int) -> None:
    with sessions.begin() as db:
        job = job_columns.get_job_summary(db, job_id)
        assert job.kind == "raw" and job.status == "queued"
        with pytest.raises(InvalidRequestError):
            _ = job.response_xml
        with pytest.raises(JobNotFound):
            job_columns.get_job_summary(db, job_id + 1)
        assert db.scalar(select(Job.id)) == job_id


def test_a_reading_transaction_sees_one_snapshot_and_holds_up_no_write(engine: Engine, job_id: int) -> None:
    """`jobs show --full` down a slow pipe: the service keeps writing meanwhile, and the show stays whole."""
    with make_sessionmaker(reading(engine)).begin() as reader:
        first = "".join(job_columns.read_large_column(reader, job_id, "response_xml", 64 * 1024))
        with make_sessionmaker(engine).begin() as writer:  # SQLite's write lock is free: the reader holds none
            job = writer.get(Job, job_id)
            assert job is not None
            job.response_xml = "<QBXML>changed</QBXML>"
        assert "".join(job_columns.read_large_column(reader, job_id, "response_xml", 64 * 1024)) == first == RESPONSE
    with make_sessionmaker(reading(engine)).begin() as reader:
        assert job_columns.read_large_column_head(reader, job_id, "response_xml", 1000) == "<QBXML>changed</QBXML>"
