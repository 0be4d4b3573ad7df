"""An operator reading the service's log sees each job's outcome and each session's end, one line each, with the
job id or the ticket, and never a token or a qbXML body."""

from __future__ import annotations

import logging

import pytest

from qbwc_service.simulate.quickbooks import QuickBooksCompany
from tests.inprocess import Protocol
from tests.support import enqueue_customers, enqueue_raw, jobs, pair


def _lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger]


def _session_ends(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in _lines(caplog, "qbwc_service.sessions")
            if record.getMessage().startswith(("session closed", "session expired"))]


def test_done_and_dead_jobs_and_the_session_end_are_logged(protocol: Protocol,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    paired = pair(protocol.sessions)
    (good,) = enqueue_customers(protocol.sessions, paired.id, ["Good One"])
    orphan = enqueue_raw(protocol.sessions, paired.id, "<CustomerAddRq><CustomerAdd><Name>Orphan</Name><ParentRef>"
                         "<FullName>Nobody</FullName></ParentRef></CustomerAdd></CustomerAddRq>")
    caplog.set_level(logging.INFO)
    report = protocol.web_connector(paired, QuickBooksCompany()).run_session()
    assert report.close_message == "OK: 1 done, 1 failed"

    outcomes = {record.job: record for record in _lines(caplog, "qbwc_service.queue")}  # type: ignore[attr-defined]
    assert set(outcomes) == {good, orphan}
    assert outcomes[good].levelname == "INFO" and outcomes[good].getMessage() == f"job {good} done (raw)"
    assert outcomes[orphan].levelname == "WARNING" and f"job {orphan} dead" in outcomes[orphan].getMessage()
    assert "Nobody" in outcomes[orphan].reason  # type: ignore[attr-defined]
    (ended,) = _session_ends(caplog)
    assert ended.levelname == "INFO" and ended.ticket == report.ticket  # type: ignore[attr-defined]
    assert ended.getMessage() == "session closed: 1 message sets, 1 jobs done, 1 failed, 0 without an answer"
    for record in caplog.records:
        text = caplog.handler.format(record)
        assert paired.token not in text and "<?xml" not in text and "QBXML" not in text


def test_an_answer_lost_with_its_session_is_logged_as_unknown(protocol: Protocol,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    paired = pair(protocol.sessions)
    (job,) = enqueue_customers(protocol.sessions, paired.id, ["In Flight"])
    company = QuickBooksCompany()
    wc = protocol.web_connector(paired, company)
    ticket = wc.authenticate(paired.username, paired.token)[0]
    assert wc.send_request_xml(ticket, company.hcp_response(), company.company_file, "US", 13, 0)
    caplog.set_level(logging.INFO)
    protocol.clock.advance(hours=2)  # the Web Connector never answers; the session's lease runs out
    assert wc.send_request_xml(ticket, "", "", "US", 13, 0) == ""
    assert [j.status for j in jobs(protocol.sessions)] == ["unknown"]

    (lost,) = _lines(caplog, "qbwc_service.queue")
    assert lost.levelname == "WARNING" and lost.job == job  # type: ignore[attr-defined]
    assert lost.getMessage().startswith(f"job {job} unknown")
    (ended,) = _session_ends(caplog)
    assert ended.levelname == "WARNING" and ended.ticket == ticket  # type: ignore[attr-defined]
    assert ended.getMessage().startswith("session expired:") and "1 without an answer" in ended.getMessage()
    assert "expired" in ended.reason  # type: ignore[attr-defined]
