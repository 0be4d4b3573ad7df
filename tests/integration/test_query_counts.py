"""The SQL a round trip costs (sendRequestXML + receiveResponseXML for one message set) does not grow with the
queue behind it nor with the size of the message set: a constant number of statements per call, counted at the
driver (an executemany is one statement)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from qbwc_service import queue as queue_module
from qbwc_service import usecases
from qbwc_service.db.models import Connection
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from tests.inprocess import Protocol, in_process
from tests.support import job_queue, jobs, pair

pytestmark = pytest.mark.each_database


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _queue(wc: Protocol, connection: str, count: int) -> None:
    items = [usecases.RawItem(connection, f"<CustomerAddRq><CustomerAdd><Name>Counted {i:05d}</Name></CustomerAdd>"
                              "</CustomerAddRq>") for i in range(count)]
    with wc.sessions.begin() as db:
        usecases.enqueue_bulk(db, job_queue(wc.clock), items)


def _round_trip_statements(engine: Engine, batch: int, queued: int) -> tuple[int, int]:
    """How many statements (sendRequestXML, receiveResponseXML) run for the second message set of a session."""
    sent, received = _round_trip(engine, batch, queued)
    return len(sent), len(received)


def _round_trip(engine: Engine, batch: int, queued: int) -> tuple[list[str], list[str]]:
    """The statements of (sendRequestXML, receiveResponseXML) for the second message set of a session."""
    wc = in_process(engine, batch_size=batch)
    paired = pair(wc.sessions, f"Counted {batch} {queued}")
    _queue(wc, paired.name, queued)
    company = QuickBooksCompany()
    protocol = wc.protocol
    ticket, _file = protocol.authenticate(paired.username, paired.token, "2.3.0.1", "127.0.0.1")
    request = protocol.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    assert protocol.receive_response_xml(ticket, company.process(request), "", "") < 100
    with counted(engine) as sent:
        request = protocol.send_request_xml(ticket, "", company.company_file, "US", 13, 0)
    answer = company.process(request)
    with counted(engine) as received:
        assert protocol.receive_response_xml(ticket, answer, "", "") < 100
    assert protocol.close_connection(ticket).startswith("OK:")
    assert sum(job.status == "done" for job in jobs(wc.sessions) if job.connection_id == paired.id) == 2 * batch
    return sent, received


def test_a_round_trip_costs_the_same_statements_however_deep_the_queue(engine: Engine) -> None:
    assert _round_trip_statements(engine, 5, 10 + 2) == _round_trip_statements(engine, 5, 2000)


def test_a_message_set_costs_the_same_statements_whatever_its_size(engine: Engine) -> None:
    assert _round_trip_statements(engine, 5, 200) == _round_trip_statements(engine, 50, 200)


def test_answers_that_settle_take_no_savepoint(engine: Engine) -> None:
    """A savepoint is only for settling job by job after an unexpected error (the call is then made again): the
    usual receiveResponseXML reads the session and its jobs, writes the jobs, their events and the session's tally,
    and counts what is still due, nothing more."""
    _sent, received = _round_trip(engine, 5, 20)
    assert not [statement for statement in received if "SAVEPOINT" in statement.upper()], received
    writes = [statement.split()[0].upper() for statement in received if statement.split()[0].upper() in
              ("INSERT", "UPDATE", "DELETE")]
    assert sorted(writes) == ["INSERT", "UPDATE", "UPDATE"], received


def test_the_hot_reads_use_indexes(engine: Engine) -> None:
    """Both engines serve the hot reads from their indexes: the claim and the progress count from the partial index
    of due jobs (its predicate is the claim's own), the jobs in flight from the index of those alone (a job keeps
    its last ticket, so an index of every ticketed job grows with what a session has settled), never a scan of the
    queue nor of the claimable jobs by status (PostgreSQL is told to avoid a table scan, which it would rightly
    prefer on a table this small)."""
    wc = in_process(engine)
    paired = pair(wc.sessions)
    _queue(wc, paired.name, 5000)
    params = {"due_connection": paired.id, "due_now": wc.clock.now(), "due_limit": 200, "claim_limit": 5,
              "claim_ticket": "t" * 32, "claim_now": wc.clock.now(), "sent_ticket": "t" * 32}
    with engine.connect() as conn:
        # With statistics that know the queue is deep: the jobs in flight are still found by their ticket.
        conn.exec_driver_sql("ANALYZE")
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        # The jobs in flight: through their own index, or (PostgreSQL's choice while none is in flight) a status-led
        # index searched for status 'sent' alone; either reads the jobs in flight and nothing a session settled.
        in_flight = r"ix_qbwc_jobs_in_flight|Index Cond: \(\(status\)::text = 'sent'::text\)"
        for statement, index in ((queue_module._CLAIM, "ix_qbwc_jobs_due"), (queue_module._DUE_AT_MOST,
                                  "ix_qbwc_jobs_due"), (queue_module._SENT_UNDER, in_flight)):
            compiled = statement.compile(dialect=engine.dialect)
            bound = compiled.construct_params(params)
            if engine.dialect.name == "sqlite":
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                            tuple(bound[name] for name in compiled.positiontup or ()))
            else:
                rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), bound)
            plan = "\n".join(str(row[-1]) for row in rows)
            assert re.search(index, plan) and "Seq Scan" not in plan and not re.search(r"\bSCAN qbwc_jobs\b", plan), \
                plan
            if statement is queue_module._CLAIM:
                # Its own check of the rows it names reads them by id, not every claimable job by its status.
                assert "ix_qbwc_jobs_status" not in plan and "ix_qbwc_jobs_prunable" not in plan, plan
        conn.rollback()


def test_a_live_session_renews_its_lease_only_once_a_fraction_of_it_has_passed(engine: Engine) -> None:
    """Calls close together write no lease: the second of two calls a second apart costs what it costs on a clock
    that stands still; once the renewal interval has passed, the next call extends the lease from its own time."""
    from datetime import timedelta

    from qbwc_service.db.models import Connection, WebConnectorSession
    from qbwc_service.sessions import renewal_interval

    wc = in_process(engine, batch_size=1)
    paired = pair(wc.sessions, "Renewed")
    _queue(wc, paired.name, 10)
    company = QuickBooksCompany()
    protocol = wc.protocol
    ticket, _file = protocol.authenticate(paired.username, paired.token, "2.3.0.1", "127.0.0.1")
    request = protocol.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    protocol.receive_response_xml(ticket, company.process(request), "", "")
    with counted(engine) as still:
        request = protocol.send_request_xml(ticket, "", company.company_file, "US", 13, 0)
    protocol.receive_response_xml(ticket, company.process(request), "", "")
    wc.clock.advance(seconds=1)
    with counted(engine) as moved:
        request = protocol.send_request_xml(ticket, "", company.company_file, "US", 13, 0)
    protocol.receive_response_xml(ticket, company.process(request), "", "")
    assert len(moved) == len(still)

    def lease() -> tuple[object, object]:
        with wc.sessions() as db:
            session = db.query(WebConnectorSession).filter_by(ticket=ticket).one()
            connection = db.get(Connection, session.connection_id)
            assert connection is not None
            return session.expires_at, connection.live_until

    before = lease()
    wc.clock.advance(renewal_interval(wc.settings))
    request = protocol.send_request_xml(ticket, "", company.company_file, "US", 13, 0)
    expected = wc.clock.now() + timedelta(seconds=wc.settings.session_timeout_seconds)
    assert lease() == (expected, expected) != before
    assert protocol.receive_response_xml(ticket, company.process(request), "", "") <= 100


def test_a_session_reads_its_connection_once_to_open_and_not_again_to_close(engine: Engine) -> None:
    """authenticate loads the connection once (taking the lease tells the loaded connection what it wrote, instead of
    reading it again); closeConnection reads its session and connection in one statement."""
    wc = in_process(engine)
    paired = pair(wc.sessions)
    _queue(wc, paired.name, 3)
    company = QuickBooksCompany()
    with counted(engine) as opened:
        ticket, _file = wc.protocol.authenticate(paired.username, paired.token, "2.3.0.1", "127.0.0.1")
    request = wc.protocol.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    assert wc.protocol.receive_response_xml(ticket, company.process(request), "", "") == 100
    with counted(engine) as closed:
        assert wc.protocol.close_connection(ticket) == "OK: 3 done, 0 failed"
    assert sorted(customer.text("Name") or "" for customer in company.records("Customer")) == \
        ["Counted 00000", "Counted 00001", "Counted 00002"]
    whole_connection = [statement for statement in opened if statement.startswith("SELECT qbwc_connections.id, "
                                                                                   "qbwc_connections.name")]
    assert len(whole_connection) == 1, opened
    reads = [statement for statement in closed if statement.lstrip().upper().startswith("SELECT")
             and "qbwc_connections" in statement.split("WHERE")[0]]
    assert len(reads) == 1 and "JOIN qbwc_connections" in reads[0], closed
    with wc.sessions() as db:
        held = db.get(Connection, paired.id)
        assert held is not None and held.live_ticket is None and held.live_until is None
