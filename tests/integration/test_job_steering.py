"""Queueing many jobs at once, and a person's word on jobs whose answer was lost: resolve, the retry that asks
for it, and retry, cancel and resolve by filter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections, links, usecases
from qbwc_service.clock import FakeClock
from qbwc_service.db.enums import EventKind, JobStatus
from qbwc_service.db.models import Event, Job
from qbwc_service.errors import (
    BulkJobRefused,
    ConnectionNotFound,
    IdempotencyKeyReused,
    InvalidJobPayload,
    JobStateConflict,
    ResolveFirst,
)
from qbwc_service.kinds import REGISTRY
from qbwc_service.queue import JobQueue, NewJob, RetryPolicy, sent_under
from qbwc_service.settlements import Lost
from qbwc_service.usecases import FlowItem, JobSelection, PullItem, RawItem

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
clock = FakeClock()
queue = JobQueue(clock, RetryPolicy(max_attempts=5, backoff_seconds=0))


def customer(name: str) -> str:
    return f"<CustomerAddRq><CustomerAdd><Name>{name}</Name></CustomerAdd></CustomerAddRq>"


@pytest.fixture
def connection_id(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as db:
        return connections.create_connection(db, "Shop").connection.id


def lose(sessions: sessionmaker[Session], connection_id: int) -> None:
    """A session takes every due job, and their answers are lost (as the exchange settles them)."""
    with sessions.begin() as db:
        queue.claim_batch(db, connection_id, "lost-ticket", 100)
        for job in sent_under(db, "lost-ticket"):
            queue.settle(db, job, Lost("the session expired", REGISTRY.of(job).progress_when_lost(job)))


def job(sessions: sessionmaker[Session], job_id: int) -> Job:
    with sessions.begin() as db:
        found = db.get(Job, job_id)
        assert found is not None
        return found


@pytest.mark.each_database
def test_enqueue_many_inserts_in_order_and_a_known_key_makes_no_second_job(
        sessions: sessionmaker[Session], connection_id: int) -> None:
    with sessions.begin() as db:
        before = queue.enqueue(db, connection_id, "raw", {"request": customer("Old")}, key="old").job.id
    wanted = [NewJob(connection_id, "raw", {"request": customer(f"C{i}")}, key=f"c{i}") for i in range(1200)]
    wanted.insert(5, NewJob(connection_id, "raw", {"request": customer("Old")}, key="old"))
    wanted.append(NewJob(connection_id, "raw", {"request": customer("C0")}, key="c0"))  # again in the same call
    wanted.append(NewJob(connection_id, "raw", {"request": "<CustomerQueryRq/>"}, read_only=True, priority=3))
    with sessions.begin() as db:
        made = queue.enqueue_many(db, wanted)
    assert len(made) == len(wanted)
    assert made[5].id == before and not made[5].created
    assert made[-2].id == made[0].id and not made[-2].created
    created = [one for one in made if one.created]
    assert len(created) == 1201
    assert [one.id for one in created] == sorted(one.id for one in created)  # the ids follow the order given
    with sessions.begin() as db:
        assert db.scalar(select(func.count()).select_from(Job)) == 1202
        assert db.scalar(select(func.count()).select_from(Event).where(Event.kind == EventKind.JOB_ENQUEUED)) == 1202
        query = db.get(Job, made[-1].id)
        assert query is not None and query.read_only and query.priority == 3 and query.status == JobStatus.QUEUED
        assert query.idempotency_key.startswith("raw:")
    with sessions.begin() as db:  # the jobs are claimed like any other
        assert [j.id for j in queue.claim_batch(db, connection_id, "t", 3)] == [made[-1].id, before, made[0].id]


@pytest.mark.each_database
def test_a_bulk_request_is_all_or_nothing_and_names_the_item_refused(sessions: sessionmaker[Session],
                                                                      connection_id: int) -> None:
    sales_order = json.loads((EXAMPLES / "sales-order.json").read_text())
    with sessions.begin() as db:
        made = usecases.enqueue_bulk(db, queue, [
            RawItem("Shop", customer("A"), key="a"), FlowItem("Shop", "sales_order", sales_order),
            PullItem("Shop", "Invoice"), RawItem("Shop", customer("B"))])
    assert [item.index for item in made] == [0, 1, 2, 3]
    ids = [one.id for item in made for one in item.jobs]
    assert ids == sorted(ids)  # the order of the request, flows included
    assert [one.kind for item in made for one in item.jobs] == ["raw", "sales_order", "pull", "raw"]
    for items, refused_index, cause in [
        ([RawItem("Shop", customer("C")), RawItem("Shop", "<QBXML/>")], 1, InvalidJobPayload),
        ([RawItem("Shop", customer("C")), RawItem("Nope", customer("D"))], 1, ConnectionNotFound),
        ([RawItem("Shop", customer("Other"), key="a")], 0, IdempotencyKeyReused),
        ([RawItem("Shop", customer("E"), key="e"), RawItem("Shop", customer("F"), key="e")], 1, IdempotencyKeyReused),
        ([PullItem("Shop", "Invoice", since="yesterday")], 0, InvalidJobPayload),
    ]:
        with pytest.raises(BulkJobRefused) as refused, sessions.begin() as db:
            usecases.enqueue_bulk(db, queue, items)
        assert refused.value.index == refused_index and isinstance(refused.value.error, cause)
    with sessions.begin() as db:
        assert db.scalar(select(func.count()).select_from(Job)) == 4  # the refused requests queued nothing
        again = usecases.enqueue_bulk(db, queue, [RawItem("Shop", customer("A"), key="a")])
    assert again[0].jobs[0].id == ids[0] and not again[0].jobs[0].created


def test_a_key_given_again_with_another_request_is_refused(sessions: sessionmaker[Session],
                                                          connection_id: int) -> None:
    with sessions.begin() as db:
        first = usecases.enqueue_raw(db, queue, "Shop", customer("A"), key="k")
        assert usecases.enqueue_raw(db, queue, "Shop", customer("A"), key="k").job.id == first.job.id
        with pytest.raises(IdempotencyKeyReused) as reused:
            usecases.enqueue_raw(db, queue, "Shop", customer("B"), key="k")
        assert reused.value.job_id == first.job.id and reused.value.key == "k"
        with pytest.raises(IdempotencyKeyReused):
            usecases.enqueue_pull(db, queue, "Shop", "Invoice", key="k")


def test_a_lost_raw_write_is_resolved_not_retried(sessions: sessionmaker[Session], connection_id: int) -> None:
    with sessions.begin() as db:
        landed = usecases.enqueue_raw(db, queue, "Shop", customer("A")).job.id
        not_landed = usecases.enqueue_raw(db, queue, "Shop", customer("B")).job.id
    lose(sessions, connection_id)
    with sessions.begin() as db:
        with pytest.raises(ResolveFirst) as refused:
            usecases.retry_job(db, queue, landed)
        assert refused.value.job_id == landed and "jobs resolve" in str(refused.value)
        with pytest.raises(InvalidJobPayload) as too_long:  # the CLI, the API and the pages meet the same rule
            usecases.resolve_job(db, queue, landed, landed=True, txn_id="8" * (usecases.MAX_TXN_ID + 1))
        assert too_long.value.field == "txn_id" and "at most 60 characters" in str(too_long.value)
        usecases.resolve_job(db, queue, landed, landed=True, txn_id="80000001-1")
        usecases.resolve_job(db, queue, not_landed, landed=False)
    done, queued = job(sessions, landed), job(sessions, not_landed)
    assert done.status == JobStatus.DONE and done.result == {"TxnID": "80000001-1", "resolved": "landed"}
    assert done.finished_at is not None
    assert queued.status == JobStatus.QUEUED and queued.attempts == 0
    assert "did not land" in (queued.status_message or "")
    with sessions.begin() as db:
        kinds = [e.kind for e in db.scalars(select(Event).where(Event.job_id == landed).order_by(Event.id))]
        assert kinds[-1] == EventKind.JOB_RESOLVED
        with pytest.raises(JobStateConflict) as twice:
            usecases.resolve_job(db, queue, landed, landed=True)
        assert twice.value.status == "done" and twice.value.allowed == ["unknown"]
        with pytest.raises(InvalidJobPayload):
            usecases.resolve_job(db, queue, not_landed, landed=False, txn_id="X")
        assert [j.id for j in queue.claim_batch(db, connection_id, "next", 10)] == [not_landed]


def test_a_lost_send_is_retried_with_its_lookup_or_resolved_with_its_link(sessions: sessionmaker[Session],
                                                                        connection_id: int) -> None:
    sales_order = json.loads((EXAMPLES / "sales-order.json").read_text())
    purchase_order = json.loads((EXAMPLES / "purchase-order.json").read_text())
    with sessions.begin() as db:
        (so,) = usecases.enqueue_flow(db, queue, "Shop", "sales_order", sales_order)
        (po,) = usecases.enqueue_flow(db, queue, "Shop", "purchase_order", purchase_order)
    lose(sessions, connection_id)
    with sessions.begin() as db:
        retried = usecases.retry_job(db, queue, so.job.id)  # it carries a marker: the lookup comes first
        assert retried.status == JobStatus.QUEUED and (retried.cursor or {}).get("reconcile") is True
    lose(sessions, connection_id)
    with sessions.begin() as db:
        usecases.resolve_job(db, queue, so.job.id, landed=True, txn_id="1A-1")
        not_landed = usecases.resolve_job(db, queue, po.job.id, landed=False)
        assert not (not_landed.cursor or {}).get("reconcile")  # sent again as it is, no lookup
        link = links.find(db, connection_id, "sales_order", sales_order["id"])
        assert link is not None and link.qbd_id == "1A-1" and link.job_id == so.job.id


def test_retry_and_resolve_by_filter(sessions: sessionmaker[Session], connection_id: int) -> None:
    sales_order = json.loads((EXAMPLES / "sales-order.json").read_text())
    with sessions.begin() as db:
        other = connections.create_connection(db, "Other").connection.id
        raw = usecases.enqueue_raw(db, queue, "Shop", customer("A")).job.id
        (flow,) = usecases.enqueue_flow(db, queue, "Shop", "sales_order", sales_order)
        elsewhere = usecases.enqueue_raw(db, queue, "Other", customer("A")).job.id
    lose(sessions, connection_id)
    lose(sessions, other)
    with sessions.begin() as db:
        steered = usecases.retry_jobs(db, queue, JobSelection("Shop", (JobStatus.UNKNOWN,)))
    assert [j.id for j in steered.changed] == [flow.job.id]
    assert [(job_id, type(error)) for job_id, error in steered.refused] == [(raw, ResolveFirst)]
    with sessions.begin() as db:
        resolved = usecases.resolve_jobs(db, queue, JobSelection("Shop"), landed=False)
    assert [j.id for j in resolved.changed] == [raw]
    assert job(sessions, elsewhere).status == JobStatus.UNKNOWN  # another connection's job is untouched
    with sessions.begin() as db:
        cancelled = usecases.cancel_jobs(db, queue, JobSelection(kind="raw", statuses=(JobStatus.QUEUED,)))
    assert [j.id for j in cancelled.changed] == [raw]
