"""Fault 11: nothing was ever pruned, so every job's XML and events stayed for ever. The retention settings let
done jobs, ended sessions and old events go (`qbwc-service prune`, and `serve` once a day); dead and unknown jobs
stay until settled; and a job whose key stops the same work from being queued twice keeps its row."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from qbwc_service import usecases
from qbwc_service.cli import app
from qbwc_service.clock import SystemClock
from qbwc_service.db.engine import make_engine
from qbwc_service.db.migrate import upgrade
from qbwc_service.db.models import Delivery, Event, Job, Link, WebConnectorSession
from qbwc_service.maintenance import PRUNE_EVERY, Maintenance
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from tests.faults.conftest import Serve
from tests.inprocess import Protocol, in_process
from tests.support import enqueue_customers, enqueue_raw, job_queue, jobs, pair

TIME_LIMIT = 120
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RETENTION_DAYS = 7
DAYS = 120
JOBS_A_DAY = 5  # four customers and a probe


@dataclass(frozen=True)
class Rows:
    jobs: int
    events: int
    sessions: int


def _rows(sessions: sessionmaker[Session]) -> Rows:
    with sessions.begin() as db:
        return Rows(*(db.scalar(select(func.count()).select_from(table)) or 0
                      for table in (Job, Event, WebConnectorSession)))


def test_months_of_daily_work_keep_the_tables_bounded(engine: Engine) -> None:
    """A soak: DAYS days of a working session and three idle polls a day, on the fake clock, with `serve`'s
    background run every six hours. The tables stop growing once the retention is reached."""
    wc = in_process(engine, retention_done_days=RETENTION_DAYS, retention_history_days=RETENTION_DAYS)
    maintenance = Maintenance(wc.sessions, wc.protocol, wc.settings, wc.clock, wc.protocol.process)
    paired = pair(wc.sessions)
    company = QuickBooksCompany()
    sizes: list[Rows] = []
    for day in range(DAYS):
        enqueue_customers(wc.sessions, paired.id, [f"Customer {day}-{n}" for n in range(JOBS_A_DAY - 1)])
        with wc.sessions.begin() as db:
            usecases.enqueue_probe(db, job_queue(wc.clock), paired.name)
        assert wc.web_connector(paired, company).run_session().close_message == f"OK: {JOBS_A_DAY} done, 0 failed"
        for _ in range(3):
            assert wc.web_connector(paired, company).run_session().outcome == "nothing-to-do"
        for _ in range(4):
            wc.clock.advance(hours=6)
            maintenance.run_once()
            assert maintenance.next_prune is not None and maintenance.next_prune - wc.clock.now() <= PRUNE_EVERY
        sizes.append(_rows(wc.sessions))
    kept_days = RETENTION_DAYS + 2  # the retention, the day being worked, and up to a day until the next prune
    steady = sizes[kept_days:]
    assert max(size.jobs for size in steady) <= JOBS_A_DAY * kept_days
    assert max(size.events for size in steady) <= (3 * JOBS_A_DAY + 2) * kept_days  # per job 3, per session 2
    assert max(size.sessions for size in steady) <= 4 * kept_days
    assert sizes[-1] == sizes[kept_days * 2]  # the same rows each day: bounded, not merely slow
    assert company.count("Customer") == DAYS * (JOBS_A_DAY - 1)


@pytest.mark.each_database  # what pruning deletes is referenced: foreign keys hold on both engines
def test_pruning_keeps_what_stops_work_being_queued_twice(engine: Engine) -> None:
    wc = in_process(engine)  # the defaults: 90 days
    paired = pair(wc.sessions)
    order = json.loads((EXAMPLES / "sales-order.json").read_text())
    with wc.sessions.begin() as db:
        (sent_order,) = usecases.enqueue_flow(db, job_queue(wc.clock), paired.name, "sales_order", order)
        pull = usecases.enqueue_pull(db, job_queue(wc.clock), paired.name, "Customer")
    keyed = enqueue_raw(wc.sessions, paired.id, "<CustomerAddRq><CustomerAdd><Name>Keyed</Name></CustomerAdd>"
                        "</CustomerAddRq>", key="customer-keyed", clock=wc.clock)
    (plain,) = enqueue_customers(wc.sessions, paired.id, ["Plain"])
    dead = enqueue_raw(wc.sessions, paired.id, "<CustomerAddRq><CustomerAdd><Name>Orphan</Name><ParentRef>"
                       "<FullName>Nobody</FullName></ParentRef></CustomerAdd></CustomerAddRq>", clock=wc.clock)
    company = QuickBooksCompany.from_seed()
    assert wc.web_connector(paired, company).run_session().outcome == "done"
    statuses = {job.id: job.status for job in jobs(wc.sessions)}
    assert statuses[dead] == "dead" and all(status == "done" for job, status in statuses.items() if job != dead)
    wc.clock.advance(days=91)

    assert usecases.prune(wc.sessions, wc.settings, wc.clock, dry_run=True).jobs_deleted == 2
    report = usecases.prune(wc.sessions, wc.settings, wc.clock)
    assert (report.jobs_deleted, report.jobs_cleared, report.complete) == (2, 2, True)
    with wc.sessions.begin() as db:
        left = {job.id: job for job in db.scalars(select(Job))}
        assert set(left) == {sent_order.job.id, keyed, dead}  # the pull and the plain add went
        for job_id in (sent_order.job.id, keyed):
            job = left[job_id]
            assert job.pruned_at == wc.clock.now() and job.status == "done" and job.result
            assert (job.request_xml, job.response_xml, job.warnings) == (None, None, None)
            assert db.scalar(select(func.count()).select_from(Event).where(Event.job_id == job_id)) == 0
        assert left[dead].request_xml and left[dead].pruned_at is None  # dead: kept whole until settled
        assert db.scalar(select(func.count()).select_from(Link).where(Link.job_id.is_(None))) == 0
        assert db.scalar(select(Link.job_id)) == sent_order.job.id  # the order's link names its kept job
        pulled = list(db.scalars(select(Delivery)))
        assert pulled and all(delivery.job_id is None for delivery in pulled)  # the records stay; their pull went
    assert pull.job.id not in left and plain not in left
    # the same order, and the same key, queued again: nothing new, and nothing sent twice
    with wc.sessions.begin() as db:
        (again,) = usecases.enqueue_flow(db, job_queue(wc.clock), paired.name, "sales_order", order)
        assert (again.job.id, again.created) == (sent_order.job.id, False)
    assert enqueue_raw(wc.sessions, paired.id, "<CustomerAddRq><CustomerAdd><Name>Keyed</Name></CustomerAdd>"
                       "</CustomerAddRq>", key="customer-keyed", clock=wc.clock) == keyed
    assert usecases.prune(wc.sessions, wc.settings, wc.clock).rows == 0  # pruned once; the rows kept stay so


def test_dead_and_unknown_jobs_go_only_when_their_retention_is_set(engine: Engine) -> None:
    keep = in_process(engine)
    paired = pair(keep.sessions)
    company = QuickBooksCompany()
    dead = enqueue_raw(keep.sessions, paired.id, "<CustomerAddRq><CustomerAdd><Name>Orphan</Name><ParentRef>"
                       "<FullName>Nobody</FullName></ParentRef></CustomerAdd></CustomerAddRq>", clock=keep.clock)
    assert keep.web_connector(paired, company).run_session().outcome == "done"
    (unknown,) = enqueue_customers(keep.sessions, paired.id, ["Lost Co"])
    wc = keep.web_connector(paired, company)
    ticket = wc.authenticate(paired.username, paired.token)[0]
    assert wc.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    keep.clock.advance(hours=2)  # the answer never comes: the session expires, and the write's outcome is unknown
    assert keep.web_connector(paired, company).run_session().outcome == "nothing-to-do"
    assert {job.id: job.status for job in jobs(keep.sessions)} == {dead: "dead", unknown: "unknown"}
    with keep.sessions.begin() as db:  # a job waiting on the unknown one: it must go on waiting
        waiting = job_queue(keep.clock).enqueue(db, paired.id, "raw", {"request": "<CustomerQueryRq/>"},
                                                depends_on=unknown).job.id
    keep.clock.advance(days=400)
    assert usecases.prune(keep.sessions, keep.settings, keep.clock).jobs_deleted == 0
    prune_all = keep.settings.model_copy(update={"retention_dead_days": 30, "retention_unknown_days": 30})
    assert usecases.prune(keep.sessions, prune_all, keep.clock).jobs_deleted == 1  # the dead one
    with keep.sessions.begin() as db:
        job_queue(keep.clock).cancel(db, waiting)
    keep.clock.advance(days=100)
    assert usecases.prune(keep.sessions, prune_all, keep.clock).jobs_deleted == 2  # the unknown one, the cancelled
    assert jobs(keep.sessions) == []


def test_the_prune_command(protocol: Protocol, monkeypatch: pytest.MonkeyPatch) -> None:
    protocol.clock.set(SystemClock().now() - timedelta(days=2))  # the command reads the real time: work 2 days ago
    paired = pair(protocol.sessions)
    enqueue_customers(protocol.sessions, paired.id, ["Once Co", "Twice Co"], clock=protocol.clock)
    assert protocol.web_connector(paired, QuickBooksCompany()).run_session().outcome == "done"
    monkeypatch.setenv("QBWC_DATABASE_URL", str(protocol.settings.database_url))
    monkeypatch.setenv("QBWC_RETENTION_DONE_DAYS", "1")
    cli = CliRunner()
    counted = json.loads(cli.invoke(app, ["prune", "--dry-run", "--json"], catch_exceptions=False).stdout)
    assert counted == {"dry_run": True, "jobs_deleted": 2, "jobs_cleared": 0, "events_deleted": 6,
                       "sessions_deleted": 0, "processes_deleted": 0}
    assert len(jobs(protocol.sessions)) == 2  # a dry run changes nothing
    said = cli.invoke(app, ["prune"], catch_exceptions=False).stdout
    assert said == ("pruned: 2 jobs deleted, 0 kept for their key without their XML and events, 6 events and "
                    "0 sessions deleted\n")
    assert jobs(protocol.sessions) == []


def test_serve_prunes_by_itself(tmp_path: Path) -> None:
    """`serve` prunes in the background, once a day (its first run soon after it starts), with no command."""
    database = tmp_path / "served.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    past = in_process(engine)
    past.clock.set(SystemClock().now() - timedelta(days=100))  # the work was done 100 days ago
    paired = pair(past.sessions)
    enqueue_customers(past.sessions, paired.id, ["Long Ago Co"], clock=past.clock)
    assert past.web_connector(paired, QuickBooksCompany()).run_session().outcome == "done"
    assert len(jobs(past.sessions)) == 1
    served = Serve(database, tmp_path / "serve.log")
    served.start()
    try:
        deadline = time.monotonic() + 15
        while jobs(past.sessions) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        served.stop()
        engine.dispose()
    assert jobs(past.sessions) == [], served.log.read_text(errors="replace")
    assert "pruned 1 jobs" in served.log.read_text(errors="replace")
