"""/jobs: a page at a time with filters; one job bounded, its whole XML a request away; retry, cancel and
resolve, one by one and by filter, with the refusals a person must see."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from qbwc_service.db.models import Job
from tests.api.conftest import Api, assert_problem

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def raw(api: Api, connection: str, name: str) -> int:
    made = api.post(f"/connections/{connection}/raw", json={
        "request": f"<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>{name}</FullName></CustomerRef></InvoiceAdd>"
                   "</InvoiceAddRq>"})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def set_job(api: Api, job_id: int, **columns: Any) -> None:
    """Write columns of a job as a session would have."""
    with api.sessions.begin() as db:
        db.execute(update(Job).where(Job.id == job_id).values(**columns))


def ids(answer: Any) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [job["id"] for job in answer.json()["jobs"]]


def test_list_filters_and_pages_with_a_cursor(api: Api) -> None:
    api.connection("Shop")
    api.connection("Other")
    start = api.clock.now()
    shop = [raw(api, "Shop", f"C{i}") for i in range(7)]
    api.clock.advance(hours=1)
    other = raw(api, "Other", "X")
    probe = api.post("/connections/Shop/access-test").json()["id"]
    set_job(api, shop[0], status="dead")
    assert ids(api.get("/jobs")) == [probe, other, *shop[::-1]]
    assert ids(api.get("/jobs", params={"connection": "Other"})) == [other]
    assert ids(api.get("/jobs", params={"kind": "probe"})) == [probe]
    assert ids(api.get("/jobs", params=[("status", "dead"), ("status", "queued"), ("connection", "Shop")])) == [
        probe, *shop[::-1]]
    assert ids(api.get("/jobs", params={"status": "dead"})) == [shop[0]]
    later = (start + timedelta(minutes=30)).isoformat()
    assert ids(api.get("/jobs", params={"created_from": later})) == [probe, other]
    assert ids(api.get("/jobs", params={"created_to": later + "+00:00"})) == shop[::-1]
    pages, cursor = [], None
    while True:
        page = api.get("/jobs", params={"connection": "Shop", "limit": 3, **({"cursor": cursor} if cursor else {})})
        pages.append(ids(page))
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == [[probe, shop[6], shop[5]], [shop[4], shop[3], shop[2]], [shop[1], shop[0]]]
    job = api.get("/jobs", params={"limit": 1}).json()["jobs"][0]
    assert job["connection"] == "Shop" and job["kind"] == "probe" and job["created_at"].endswith("Z")
    assert_problem(api.get("/jobs", params={"limit": 501}), 422, "invalid-request", field="limit")
    assert_problem(api.get("/jobs", params={"status": "lost"}), 422, "invalid-request", field="status[0]")
    assert_problem(api.get("/jobs", params={"cursor": "not-a-cursor"}), 422, "invalid-request", field="cursor")
    assert_problem(api.get("/jobs", params={"kind": "probes"}), 422, "invalid-job", field="kind")
    assert_problem(api.get("/jobs", params={"connection": "Nope"}), 404, "not-found")


def test_show_is_bounded_and_the_whole_xml_is_a_request_away(api: Api) -> None:
    api.connection("Shop")
    job_id = raw(api, "Shop", "A")
    shown = api.get(f"/jobs/{job_id}").json()
    assert shown["payload"]["request"].startswith("<InvoiceAddRq>") and shown["request_xml"] is None
    assert [event["kind"] for event in shown["events"]] == ["job-enqueued"] and shown["cut"] == {}
    assert_problem(api.get(f"/jobs/{job_id}/response.xml"), 404, "not-found")
    big = "<QBXML>" + "<InvoiceAddRq>" + "x" * 300_000 + "</InvoiceAddRq></QBXML>"
    set_job(api, job_id, request_xml=big, response_xml="<QBXML><InvoiceAddRs statusCode=\"0\"/></QBXML>")
    shown = api.get(f"/jobs/{job_id}").json()
    assert len(shown["request_xml"]) == 64 * 1024 and big.startswith(shown["request_xml"])
    assert shown["cut"] == {"request_xml": {"bytes": len(big), "left_out": len(big) - 64 * 1024}}
    whole = api.get(f"/jobs/{job_id}/request.xml")
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("application/xml")
    assert whole.text == big
    assert api.get(f"/jobs/{job_id}/response.xml").text.endswith("</QBXML>")
    assert_problem(api.get("/jobs/999"), 404, "not-found", what="job", key=999)
    assert_problem(api.get("/jobs/999/request.xml"), 404, "not-found")
    assert_problem(api.get("/jobs/0"), 422, "invalid-request", field="job_id")
    assert_problem(api.get(f"/jobs/{job_id}/cursor.xml"), 422, "invalid-request", field="which")


def test_retry_cancel_and_resolve_one_job(api: Api) -> None:
    api.connection("Shop")
    landed, not_landed, queued = raw(api, "Shop", "A"), raw(api, "Shop", "B"), raw(api, "Shop", "C")
    assert_problem(api.post(f"/jobs/{queued}/retry"), 409, "job-state", job_id=queued, job_status="queued",
                   action="retried")
    assert api.post(f"/jobs/{queued}/cancel").json()["status"] == "cancelled"
    assert_problem(api.post(f"/jobs/{queued}/cancel"), 409, "job-state", job_status="cancelled")
    assert api.post(f"/jobs/{queued}/retry").json()["status"] == "queued"
    api.lose_all("Shop")
    first = assert_problem(api.post(f"/jobs/{landed}/retry"), 409, "resolve-first", job_id=landed,
                           job_status="unknown")
    assert f"jobs resolve {landed}" in first["detail"]
    done = api.post(f"/jobs/{landed}/resolve", json={"landed": True, "txn_id": "80000007-1"})
    assert done.status_code == 200
    assert done.json()["status"] == "done" and done.json()["result"] == {"TxnID": "80000007-1", "resolved": "landed"}
    again = api.post(f"/jobs/{not_landed}/resolve", json={"landed": False})
    assert again.json()["status"] == "queued" and again.json()["attempts"] == 0
    assert_problem(api.post(f"/jobs/{landed}/resolve", json={"landed": True}), 409, "job-state",
                   allowed=["unknown"])
    assert_problem(api.post(f"/jobs/{queued}/resolve", json={"landed": False, "txn_id": "X"}), 422, "invalid-job",
                   field="txn_id")
    assert_problem(api.post(f"/jobs/{queued}/resolve", json={}), 422, "invalid-request", field="landed")
    assert_problem(api.post("/jobs/999/resolve", json={"landed": True}), 404, "not-found")
    events = [event["kind"] for event in api.get(f"/jobs/{landed}").json()["events"]]
    assert events[-1] == "job-resolved"


def test_retry_cancel_and_resolve_by_filter(api: Api) -> None:
    api.connection("Shop")
    api.connection("Other")
    raw_write = raw(api, "Shop", "A")
    order = api.post("/connections/Shop/flows/sales_order",
                     json=json.loads((EXAMPLES / "sales-order.json").read_text())).json()[0]["id"]
    elsewhere = raw(api, "Other", "A")
    api.lose_all("Shop")
    api.lose_all("Other")
    retried = api.post("/jobs/retry", json={"status": ["unknown"], "connection": "Shop"})
    assert retried.status_code == 200
    assert retried.json()["changed"] == [{"id": order, "kind": "sales_order", "status": "queued"}]
    (refused,) = retried.json()["refused"]
    assert refused["id"] == raw_write and refused["problem"]["type"] == "urn:qbwc-service:problem:resolve-first"
    assert refused["problem"]["status"] == 409 and refused["problem"]["job_id"] == raw_write
    resolved = api.post("/jobs/resolve", json={"connection": "Shop", "landed": False}).json()
    assert resolved == {"changed": [{"id": raw_write, "kind": "raw", "status": "queued"}], "refused": []}
    assert api.get(f"/jobs/{elsewhere}").json()["status"] == "unknown"
    cancelled = api.post("/jobs/cancel", json={"status": ["queued"], "kind": "raw"}).json()
    assert [job["id"] for job in cancelled["changed"]] == [raw_write]
    assert_problem(api.post("/jobs/retry", json={"connection": "Shop"}), 422, "invalid-request", field="status")
    assert_problem(api.post("/jobs/cancel", json={"status": []}), 422, "invalid-request", field="status")
    assert_problem(api.post("/jobs/resolve", json={"connection": "Nope", "landed": True}), 404, "not-found")
    for path, body in [("/jobs/retry", {"status": ["unknown"]}), ("/jobs/cancel", {"status": ["queued"]}),
                       ("/jobs/resolve", {"landed": True}), (f"/jobs/{elsewhere}/resolve", {"landed": True}),
                       (f"/jobs/{elsewhere}/cancel", None), ("/jobs/bulk", {"jobs": []})]:
        assert_problem(api.client.post(f"/api/v1{path}", headers=api.reader, json=body), 403, "not-permitted")
    assert api.get(f"/jobs/{elsewhere}").json()["status"] == "unknown"
