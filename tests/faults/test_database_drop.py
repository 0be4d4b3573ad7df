"""Fault 9: an answer in hand is never dropped because one database connection dropped.

The Web Connector's answer arrives once; if the transaction settling it fails on a database error that may
pass (the connection was cut, the database was locked beyond its busy timeout), the service settles it
again from the answer text, on a new connection, before it gives anything up."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text

from qbwc_service.db.engine import make_sessionmaker
from qbwc_service.kinds import REGISTRY
from qbwc_service.kinds.base import Answer, SettleContext
from qbwc_service.kinds.raw import RawKind
from qbwc_service.settings import load_settings
from qbwc_service.settlements import Settlement
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import run_server
from tests.faults.conftest import needs_postgres
from tests.inprocess import in_process
from tests.support import enqueue_customers, jobs, pair

ANSWERS = 50


class CutsItsConnection(RawKind):
    """The raw kind, except that settling the ``at``-th answer has the service's own database connection
    terminated from another connection (``pg_terminate_backend``, as an administrator, a failover or a
    network cut would), once."""

    def __init__(self, engine: Engine, at: int) -> None:
        self.engine, self.at, self.seen, self.cut = engine, at, 0, False

    def settle(self, job, answer: Answer, ctx: SettleContext) -> Settlement:  # type: ignore[no-untyped-def]
        self.seen += 1
        if self.seen == self.at and not self.cut:
            self.cut = True
            pid = ctx.db.scalar(text("SELECT pg_backend_pid()"))
            with self.engine.connect() as admin:
                # waits (up to 5 s) until the backend is gone
                assert admin.scalar(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        return super().settle(job, answer, ctx)


@pytest.mark.postgres
@needs_postgres
@pytest.mark.parametrize("at", [1, ANSWERS // 2, ANSWERS])
def test_a_connection_cut_while_settling_an_answer_loses_nothing(postgres_engine: Engine, at: int) -> None:
    killer = CutsItsConnection(postgres_engine, at)
    settings = load_settings(database_url=postgres_engine.url.render_as_string(hide_password=False))
    sessions = make_sessionmaker(postgres_engine)
    for server in run_server(settings, postgres_engine, sessions, registry=REGISTRY.replacing(killer)):
        paired = pair(sessions)
        enqueue_customers(sessions, paired.id, [f"Customer {n:02}" for n in range(ANSWERS)])
        company = QuickBooksCompany()
        with WebConnectorClient(server.soap_url, paired.username, paired.token, company) as wc:
            report = wc.run_session()
    assert killer.cut
    assert (report.outcome, report.close_message) == ("done", f"OK: {ANSWERS} done, 0 failed"), report.last_error
    assert [job.status for job in jobs(sessions)] == ["done"] * ANSWERS
    assert company.count("Customer") == ANSWERS



class LocksTheDatabase(QuickBooksCompany):
    """A company whose answer reaches the service while another program holds SQLite's write lock: the lock
    outlasts the service's busy timeout once, then is let go."""

    def __init__(self, database: Path) -> None:
        super().__init__()
        self.holder = sqlite3.connect(database, isolation_level=None)
        self.held = 0

    def process(self, request: str) -> str:
        answer = super().process(request)
        self.holder.execute("BEGIN IMMEDIATE")
        self.held += 1
        return answer

    def let_go(self) -> None:
        if self.holder.in_transaction:
            self.holder.execute("ROLLBACK")


def test_sqlite_locked_beyond_its_busy_timeout_while_an_answer_arrives_loses_nothing(engine: Engine) -> None:
    database = Path(str(engine.url.database))
    event.listen(engine, "connect", lambda conn, _record: conn.execute("PRAGMA busy_timeout=50"))
    wc = in_process(engine)
    paired = pair(wc.sessions)
    enqueue_customers(wc.sessions, paired.id, [f"Customer {n:02}" for n in range(ANSWERS)])
    company = LocksTheDatabase(database)
    locked: list[str] = []

    @event.listens_for(engine, "handle_error")
    def _let_go(context) -> None:  # type: ignore[no-untyped-def]
        locked.append(str(context.original_exception))
        company.let_go()

    with closing(company.holder):
        report = wc.web_connector(paired, company).run_session()
    assert company.held == 1 and locked and all("database is locked" in error for error in locked)
    assert (report.outcome, report.close_message) == ("done", f"OK: {ANSWERS} done, 0 failed"), report.last_error
    assert [job.status for job in jobs(wc.sessions)] == ["done"] * ANSWERS
    assert company.count("Customer") == ANSWERS
