"""The delivery worker's claims, on each database: workers claiming at once never get the same record, a
document's versions go in order, a claim whose lease ran out is taken over, and a worker that lost its claim
writes nothing. Plus the background runner that drives the worker."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connections, deliveries
from qbwc_service.background import Runner, Task, service_tasks
from qbwc_service.clock import FakeClock
from qbwc_service.db.enums import DeliveryStatus
from qbwc_service.settings import load_settings

LEASE = timedelta(minutes=15)


def stored(sessions: sessionmaker[Session], documents: int, versions: int = 1) -> int:
    """``documents`` sales orders, each in ``versions`` versions, stored as pulls store them."""
    with sessions.begin() as db:
        connection_id = connections.create_connection(db, "Shop").connection.id
        for version in range(versions):
            deliveries.store(db, connection_id, None, [
                deliveries.PulledRecord("SalesOrder", f"T{n}", str(version), None,
                                        f"<SalesOrderRet>{n}</SalesOrderRet>")
                for n in range(documents)], datetime(2026, 11, 29))
        return connection_id


@pytest.mark.each_database
def test_workers_claiming_at_once_never_share_a_record(sessions: sessionmaker[Session]) -> None:
    connection_id = stored(sessions, 60, versions=2)
    now = datetime(2026, 11, 29, 12)
    claimed: dict[str, list[tuple[str, str]]] = {}
    start = threading.Barrier(4)

    def work(name: str) -> None:
        start.wait()
        mine = claimed.setdefault(name, [])
        while True:
            with sessions.begin() as db:
                batch = deliveries.claim(db, connection_id, name, now, LEASE, limit=7)
                for record in batch:
                    assert deliveries.settle(db, record.id, name, **deliveries.finished(
                        DeliveryStatus.DELIVERED, "done", now))
                mine.extend((r.qbd_id, r.edit_sequence) for r in batch)
            if not batch:
                with sessions.begin() as db:
                    if not deliveries.connections_due(db, now):
                        return

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [pair for pairs in claimed.values() for pair in pairs]
    assert len(every) == len(set(every)) == 120
    for pairs in claimed.values():  # a worker met a document's versions in order
        for qbd_id in {q for q, _ in pairs}:
            versions = [v for q, v in pairs if q == qbd_id]
            assert versions == sorted(versions)


@pytest.mark.each_database
def test_a_later_version_waits_and_a_lapsed_claim_is_taken_over(sessions: sessionmaker[Session]) -> None:
    connection_id = stored(sessions, 1, versions=2)
    now = datetime(2026, 11, 29, 12)
    with sessions.begin() as db:
        (first,) = deliveries.claim(db, connection_id, "a", now, LEASE, limit=5)
        assert first.edit_sequence == "0"
        assert deliveries.claim(db, connection_id, "b", now, LEASE, limit=5) == []  # version 1 waits for 0
    later = now + LEASE + timedelta(seconds=1)
    with sessions.begin() as db:
        (again,) = deliveries.claim(db, connection_id, "b", later, LEASE, limit=5)
        assert again.id == first.id and again.attempts == 2 and again.claimed_by == "b"
    with sessions.begin() as db:
        assert not deliveries.settle(db, first.id, "a", status=DeliveryStatus.DELIVERED)  # "a" lost its claim
        assert deliveries.settle(db, first.id, "b", **deliveries.postponed("Fusion is down", later + LEASE))
    with sessions.begin() as db:
        assert deliveries.claim(db, connection_id, "c", later, LEASE, limit=5) == []  # waiting out its backoff
        (retried,) = deliveries.claim(db, connection_id, "c", later + LEASE * 2, LEASE, limit=5)
        assert retried.id == first.id and retried.last_error == "Fusion is down"


def test_the_runner_drains_each_task_and_survives_a_failing_one() -> None:
    runs: list[str] = []
    backlog = [3]

    def draining(_stop: object) -> int:
        runs.append("drain")
        backlog[0] -= 1
        return 1 if backlog[0] >= 0 else 0

    def failing(_stop: object) -> int:
        runs.append("fail")
        raise RuntimeError("the database went away")

    done = Runner([Task("drain", 1, draining), Task("fail", 1, failing)]).run_once()
    assert done == 3 and runs == ["drain"] * 4 + ["fail"]


def test_serve_runs_the_worker_and_the_poller_unless_told_not_to(sessions: sessionmaker[Session]) -> None:
    clock = FakeClock()
    assert [t.name for t in service_tasks(sessions, load_settings(), clock)] == ["deliveries", "fusion-poll"]
    assert [t.name for t in service_tasks(sessions, load_settings(delivery_worker=False), clock)] == ["fusion-poll"]
    assert [t.name for t in service_tasks(sessions, load_settings(fusion_poll=False), clock)] == ["deliveries"]
    assert service_tasks(sessions, load_settings(delivery_worker=False, fusion_poll=False), clock) == []
    runner = Runner(service_tasks(sessions, load_settings(delivery_poll_seconds=0.05), clock))
    runner.start()
    runner.stop()
    assert runner.stopping
