"""Fault 12: reconciling a lost add keeps the add it looks for. The job's own request stays in request_xml;
the lookup that read back what the lost attempt did is kept beside it, in lookup_xml, and `jobs show`
prints both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qbwc_service import usecases
from qbwc_service.cli import app
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from tests.inprocess import Protocol
from tests.support import job_queue, jobs, pair

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_reconciled_add_keeps_its_request_beside_the_lookup(
    protocol: Protocol, monkeypatch: pytest.MonkeyPatch
) -> None:
    paired = pair(protocol.sessions)
    order = json.loads((EXAMPLES / "sales-order.json").read_text())
    with protocol.sessions.begin() as db:
        (made,) = usecases.enqueue_flow(db, job_queue(protocol.clock), paired.name, "sales_order", order)
    company = QuickBooksCompany.from_seed()
    company.drop_next_responses(1)
    assert protocol.web_connector(paired, company).run_session().outcome == "error"  # it landed; the answer was lost
    protocol.clock.advance(hours=2)  # the lease runs out; the next run looks the add up
    assert protocol.web_connector(paired, company).run_session().outcome == "done"
    (job,) = jobs(protocol.sessions)
    assert job.id == made.job.id and job.status == "done" and job.result and job.result["reconciled"] is True
    assert job.request_xml is not None and job.request_xml.startswith("<SalesOrderAddRq")
    assert job.lookup_xml is not None and job.lookup_xml.startswith("<SalesOrderQueryRq")
    assert company.count("SalesOrder") == 2 + 1  # the seed's two, and this one once

    monkeypatch.setenv("QBWC_DATABASE_URL", str(protocol.settings.database_url))
    shown = CliRunner().invoke(app, ["jobs", "show", str(job.id)], catch_exceptions=False).stdout
    assert f"--- request XML\n{job.request_xml}\n--- lookup XML\n{job.lookup_xml}\n--- response XML\n" in shown
    as_json = json.loads(CliRunner().invoke(app, ["jobs", "show", str(job.id), "--json"]).stdout)
    assert (as_json["request_xml"], as_json["lookup_xml"]) == (job.request_xml, job.lookup_xml)
