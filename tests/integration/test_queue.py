"""The queue: idempotent enqueue, priority then FIFO, atomic claims, retries, dead and unknown jobs."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections, usecases
from qbwc_service.clock import FakeClock
from qbwc_service.db.engine import make_sessionmaker
from qbwc_service.db.models import Event, Job
from qbwc_service.errors import JobStateConflict
from qbwc_service.kinds.flows import FlowProgress
from qbwc_service.kinds.raw import RAW, RawProgress
from qbwc_service.queue import JobQueue, RetryPolicy, sent_under
from qbwc_service.settlements import Continue, Dead, Done, Lost, Retry

clock = FakeClock()
queue = JobQueue(clock, RetryPolicy(max_attempts=5, backoff_seconds=0))

pytestmark = pytest.mark.each_database  # the queue's own SQL: claims, SKIP LOCKED, ON CONFLICT, dependencies


@pytest.fixture
def connection_id(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as db:
        return connections.create_connection(db, "queue-test").connection.id


def _enqueue(sessions: sessionmaker[Session], connection_id: int, n: int, **kw: object) -> list[int]:
    ids = []
    with sessions.begin() as db:
        for i in range(n):
            ids.append(queue.enqueue(db, connection_id, "raw", {"request": f"<R{i}/>"}, **kw).job.id)  # type: ignore[arg-type]
    return ids


def test_same_key_makes_one_job(sessions: sessionmaker[Session], connection_id: int) -> None:
    with sessions.begin() as db:
        first = queue.enqueue(db, connection_id, "raw", {"request": "<A/>"}, key="so-42")
        second = queue.enqueue(db, connection_id, "raw", {"request": "<B/>"}, key="so-42")
    assert first.created and not second.created
    assert first.job.id == second.job.id
    with sessions.begin() as db:
        assert len(db.scalars(select(Job)).all()) == 1
        assert db.get(Job, first.job.id).payload == {"request": "<A/>"}  # type: ignore[union-attr]


def test_claim_order_is_priority_then_fifo(sessions: sessionmaker[Session], connection_id: int) -> None:
    low = _enqueue(sessions, connection_id, 3)
    with sessions.begin() as db:
        high = queue.enqueue(db, connection_id, "raw", {"request": "<H/>"}, priority=5).job.id
    with sessions.begin() as db:
        claimed = [j.id for j in queue.claim_batch(db, connection_id, "t1", 10)]
    assert claimed == [high, *low]
    with sessions.begin() as db:
        assert queue.claim_batch(db, connection_id, "t2", 10) == []
        assert {j.status for j in db.scalars(select(Job))} == {"sent"}
        assert {j.attempts for j in db.scalars(select(Job))} == {1}


def test_claim_respects_limit_and_not_before(sessions: sessionmaker[Session], connection_id: int) -> None:
    ids = _enqueue(sessions, connection_id, 5)
    with sessions.begin() as db:
        (job, *_) = queue.claim_batch(db, connection_id, "t0", 1)
        JobQueue(clock, RetryPolicy(5, backoff_seconds=3600)).settle(db, job, Retry("locked"))  # back in an hour
    assert job.id == ids[0]
    with sessions.begin() as db:
        assert [j.id for j in queue.claim_batch(db, connection_id, "t", 2)] == ids[1:3]


def test_transient_failure_backs_off_then_dies(sessions: sessionmaker[Session], connection_id: int) -> None:
    (job_id,) = _enqueue(sessions, connection_id, 1)
    for attempt in range(1, 4):
        with sessions.begin() as db:
            (job,) = queue.claim_batch(db, connection_id, f"t{attempt}", 10)
            JobQueue(clock, RetryPolicy(max_attempts=3, backoff_seconds=0)).settle(
                db, job, Retry("locked", "3175", "<Rs/>"))
        with sessions.begin() as db:
            job = db.get(Job, job_id)  # type: ignore[assignment]
            assert job.attempts == attempt
            assert job.status == ("failed" if attempt < 3 else "dead")
    assert "gave up after 3 attempts" in (job.status_message or "")


def test_backoff_doubles(sessions: sessionmaker[Session], connection_id: int) -> None:
    (job_id,) = _enqueue(sessions, connection_id, 1)
    delays = []
    patient = JobQueue(clock, RetryPolicy(max_attempts=10, backoff_seconds=60))
    for attempt in range(3):
        with sessions.begin() as db:
            (job,) = patient.claim_batch(db, connection_id, f"t{attempt}", 1)
            before = clock.now()
            patient.settle(db, job, Retry("locked", "3175"))
            assert job.not_before is not None and job.id == job_id
            delays.append((job.not_before - before).total_seconds() / 60)
            assert patient.claim_batch(db, connection_id, f"early{attempt}", 1) == []  # not due yet
        clock.advance(job.not_before - before)
    assert delays == [1, 2, 4]


def test_dead_dependency_kills_dependents(sessions: sessionmaker[Session], connection_id: int) -> None:
    with sessions.begin() as db:
        first = queue.enqueue(db, connection_id, "raw", {"request": "<A/>"}).job
        second = queue.enqueue(db, connection_id, "raw", {"request": "<B/>"}, depends_on=first.id).job
    with sessions.begin() as db:
        claimed = queue.claim_batch(db, connection_id, "t", 10)
        assert [j.id for j in claimed] == [first.id]  # the dependent waits
        queue.settle(db, claimed[0], Dead("missing customer", "3140"))
    with sessions.begin() as db:
        dependent = db.get(Job, second.id)
        assert dependent is not None and dependent.status == "dead"
        assert f"job {first.id}" in (dependent.status_message or "")


def test_lost_outcome_requeues_queries_and_parks_writes(sessions: sessionmaker[Session], connection_id: int) -> None:
    with sessions.begin() as db:
        write = queue.enqueue(db, connection_id, "raw", {"request": "<A/>"}).job.id
        read = queue.enqueue(db, connection_id, "raw", {"request": "<Q/>"}, read_only=True).job.id
    with sessions.begin() as db:
        queue.claim_batch(db, connection_id, "t", 10)
        for job in sent_under(db, "t"):
            queue.settle(db, job, Lost("session expired"))
    with sessions.begin() as db:
        assert db.get(Job, write).status == "unknown"  # type: ignore[union-attr]
        assert db.get(Job, read).status == "queued"  # type: ignore[union-attr]


def test_operator_retry_and_cancel(sessions: sessionmaker[Session], connection_id: int) -> None:
    (job_id,) = _enqueue(sessions, connection_id, 1)
    with sessions.begin() as db:
        with pytest.raises(JobStateConflict):
            usecases.retry_job(db, queue, job_id)
        queue.cancel(db, job_id)
    with sessions.begin() as db:
        assert queue.claim_batch(db, connection_id, "t", 10) == []
        assert usecases.retry_job(db, queue, job_id).status == "queued"
    with sessions.begin() as db:
        (job,) = queue.claim_batch(db, connection_id, "t", 10)
        queue.settle(db, job, Done({"TxnID": "1-1"}, "<Rs/>"))
    with sessions.begin() as db:
        with pytest.raises(JobStateConflict):
            queue.cancel(db, job_id)
        kinds = [e.kind for e in db.scalars(select(Event).where(Event.job_id == job_id).order_by(Event.id))]
    assert kinds == ["job-enqueued", "job-cancelled", "job-retried", "job-sent", "job-done"]


def test_two_workers_never_claim_the_same_job(engine: Engine, connection_id: int) -> None:
    """Two database connections claim concurrently; every job goes to exactly one of them."""
    sessions = make_sessionmaker(engine)
    total = 400
    with sessions.begin() as db:
        for i in range(total):
            queue.enqueue(db, connection_id, "raw", {"request": f"<R{i}/>"})
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            barrier.wait()
            while True:
                with sessions.begin() as db:
                    batch = queue.claim_batch(db, connection_id, f"ticket-{name}", 7)
                if not batch:
                    return
                claimed[name].extend(j.id for j in batch)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    a, b = set(claimed["a"]), set(claimed["b"])
    assert not a & b
    assert len(claimed["a"]) + len(claimed["b"]) == total == len(a | b)
    with sessions.begin() as db:
        tickets = {j.id: j.ticket for j in db.scalars(select(Job))}
    assert all(tickets[i] == "ticket-a" for i in a) and all(tickets[i] == "ticket-b" for i in b)


def test_cancelling_a_job_stops_what_waits_on_it(sessions: sessionmaker[Session], connection_id: int) -> None:
    with sessions.begin() as db:
        first = queue.enqueue(db, connection_id, "raw", {"request": "<A/>"}).job
        second = queue.enqueue(db, connection_id, "raw", {"request": "<B/>"}, depends_on=first.id).job
        assert queue.due_count(db, connection_id) == 1  # the dependent is not counted as work
    with sessions.begin() as db:
        queue.cancel(db, first.id)
    with sessions.begin() as db:
        dependent = db.get(Job, second.id)
        assert dependent is not None and dependent.status == "dead" and "cancelled" in (dependent.status_message or "")
        assert queue.due_count(db, connection_id) == 0


def test_a_claim_skips_rows_another_claim_holds(engine: Engine, connection_id: int) -> None:
    """On PostgreSQL a second worker does not wait for the first one's uncommitted claim: it takes other jobs."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks and SKIP LOCKED are PostgreSQL's; SQLite has one writer at a time")
    from sqlalchemy import text

    sessions = make_sessionmaker(engine)
    with sessions.begin() as db:
        for i in range(10):
            queue.enqueue(db, connection_id, "raw", {"request": f"<R{i}/>"})
    first = sessions()
    second = sessions()
    try:
        first.begin()
        held = {j.id for j in queue.claim_batch(first, connection_id, "ticket-a", 5)}
        second.begin()
        second.execute(text("SET LOCAL lock_timeout = '3s'"))  # without SKIP LOCKED this would wait, then fail
        taken = {j.id for j in queue.claim_batch(second, connection_id, "ticket-b", 5)}
        assert len(held) == 5 and len(taken) == 5 and not held & taken
    finally:
        first.rollback()
        second.rollback()
        first.close()
        second.close()


def test_an_operator_retry_starts_in_session_plans_over(sessions: sessionmaker[Session], connection_id: int) -> None:
    """A raw job forgets its plan to link to an existing entry; a send keeps its pending lookup of a lost add."""
    (raw_id,) = _enqueue(sessions, connection_id, 1)
    with sessions.begin() as db:
        flow_id = queue.enqueue(db, connection_id, "sales_order", {"entity": {}}, reconcilable=True).job.id
        for job in queue.claim_batch(db, connection_id, "t", 2):
            plan = RawProgress(link_existing="X", requeries=1) if job.id == raw_id else FlowProgress(
                reconcile=True, lost_sent_at=clock.now())
            queue.settle(db, job, Continue("planned", plan))
        for job in queue.claim_batch(db, connection_id, "t2", 2):
            queue.settle(db, job, Dead("in use", "3100"))
    with sessions.begin() as db:
        raw = usecases.retry_job(db, queue, raw_id)
        flow = usecases.retry_job(db, queue, flow_id)
        assert RAW.progress(raw) == RawProgress(requeries=1)
        assert FlowProgress.model_validate(flow.cursor) == FlowProgress(reconcile=True, lost_sent_at=clock.now())
