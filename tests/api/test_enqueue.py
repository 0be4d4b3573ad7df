"""Queueing through the API: each flow with its entity inline, raw qbXML and pulls with an Idempotency-Key,
stock, and many jobs in one request; limits on bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.db.models import Job
from qbwc_service.settings import Settings
from tests.api.conftest import Api, assert_problem, make_api

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLOW_EXAMPLES = {"sales_order": ("sales-order", 1), "purchase_order": ("purchase-order", 1),
                 "receiving": ("receiving", 1), "shipment": ("shipment", 1), "time_tracking": ("production-order", 2)}


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def customer(name: str) -> str:
    return f"<CustomerAddRq><CustomerAdd><Name>{name}</Name></CustomerAdd></CustomerAddRq>"


def jobs_in(api: Api) -> int:
    with api.sessions.begin() as db:
        return db.scalar(select(func.count()).select_from(Job)) or 0


def test_each_flow_with_its_entity_inline_makes_one_job_per_entity(api: Api) -> None:
    api.connection("Shop")
    for flow, (file, count) in FLOW_EXAMPLES.items():
        made = api.post(f"/connections/Shop/flows/{flow}", json=example(file))
        assert made.status_code == 201, made.text
        assert [(job["kind"], job["created"]) for job in made.json()] == [(flow, True)] * count
        again = api.post(f"/connections/Shop/flows/{flow}", json=example(file), headers={"Idempotency-Key": "x"})
        assert again.status_code == 200 and [job["created"] for job in again.json()] == [False] * count
    assert jobs_in(api) == 6


def test_a_refused_entity_is_422_naming_the_field_and_queues_nothing(api: Api) -> None:
    api.connection("Shop")
    order = example("sales-order")
    del order["client"]
    assert_problem(api.post("/connections/Shop/flows/sales_order", json=order), 422, "invalid-job", field="client")
    assert_problem(api.post("/connections/Shop/flows/invoice", json=example("sales-order")), 422,
                   "invalid-request", field="flow")
    assert_problem(api.post("/connections/Shop/flows/sales_order", json=[1, 2]), 422, "invalid-request")
    api.patch("/connections/Shop/options", json={"set": {"sales_orders.manual": False}})
    assert_problem(api.post("/connections/Shop/flows/sales_order", json=example("sales-order")), 422, "refused",
                   reason="flow-disabled", subject="sales_order")
    assert_problem(api.post("/connections/Nope/flows/sales_order", json=example("sales-order")), 404, "not-found")
    assert jobs_in(api) == 0


def test_raw_and_pulls_take_an_idempotency_key(api: Api) -> None:
    api.connection("Shop")
    first = api.post("/connections/Shop/raw", json={"request": customer("A"), "priority": 5},
                     headers={"Idempotency-Key": "customer-a"})
    assert first.status_code == 201 and first.json()["created"] is True
    again = api.post("/connections/Shop/raw", json={"request": customer("A"), "priority": 5},
                     headers={"Idempotency-Key": "customer-a"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert_problem(api.post("/connections/Shop/raw", json={"request": customer("B")},
                            headers={"Idempotency-Key": "customer-a"}),
                   422, "idempotency-key-reused", key="customer-a", job_id=first.json()["id"])
    assert api.post("/connections/Shop/raw", json={"request": customer("A")}).status_code == 201  # no key: new job
    assert_problem(api.post("/connections/Shop/raw", json={"request": "<QBXML><QBXMLMsgsRq/></QBXML>"}), 422,
                   "invalid-job")
    assert_problem(api.post("/connections/Shop/raw", json={"request": customer("C")},
                            headers={"Idempotency-Key": "k" * 256}), 422, "invalid-request", field="Idempotency-Key")
    pull = api.post("/connections/Shop/pulls", json={"entity": "Invoice", "since": "2026-11-01T00:00:00"},
                    headers={"Idempotency-Key": "nightly-2026-11-02"})
    assert pull.status_code == 201 and pull.json()["kind"] == "pull"
    assert api.post("/connections/Shop/pulls", json={"entity": "Invoice", "since": "2026-11-01T00:00:00"},
                    headers={"Idempotency-Key": "nightly-2026-11-02"}).status_code == 200
    assert_problem(api.post("/connections/Shop/pulls", json={"entity": "Invoice", "since": "last week"}), 422,
                   "invalid-job", field="since")
    assert_problem(api.post("/connections/Shop/pulls", json={"entity": "Nothing"}), 422, "invalid-job",
                   field="entity")
    assert_problem(api.post("/connections/Shop/pulls", json={"entity": "Invoice", "max_returned": 0}), 422,
                   "invalid-request", field="max_returned")
    assert jobs_in(api) == 3


def test_stock_send_all_and_send_one(api: Api) -> None:
    api.connection("Shop")
    levels = example("stock")
    levels = levels.get("products", levels) if isinstance(levels, dict) else levels
    assert_problem(api.post("/connections/Shop/stock/send-all", json={"levels": levels}), 422, "refused",
                   reason="stock-sync-off")
    api.patch("/connections/Shop/options", json={"set": {
        "stock_sync": True, "stock_adjustment_account": "Inventory Adjustment", "stock_only_quickbooks_label": True}})
    sent = api.post("/connections/Shop/stock/send-all", json={"levels": levels})
    assert sent.status_code == 201
    assert len(sent.json()["queued"]) == 2 and sent.json()["not_labelled"] == ["Prototype X"]
    one = api.post("/connections/Shop/stock/send", json={"product": "Gripper Frame GF-20", "levels": levels})
    assert one.status_code == 200 and one.json()["created"] is False
    assert_problem(api.post("/connections/Shop/stock/send", json={"product": "Nope", "levels": levels}), 422,
                   "invalid-job", field="product")


@pytest.mark.each_database
def test_a_bulk_request_queues_thousands_in_one_transaction_in_order(api: Api) -> None:
    api.connection("Shop")
    api.connection("Other")
    jobs: list[dict[str, Any]] = [{"type": "raw", "connection": "Shop", "request": customer(f"C{i:05d}"),
                                   "key": f"c{i}"} for i in range(3000)]
    jobs[10] = {"type": "flow", "connection": "Shop", "flow": "sales_order", "entity": example("sales-order")}
    jobs[20] = {"type": "pull", "connection": "Other", "entity": "Invoice"}
    made = api.post("/jobs/bulk", json={"jobs": jobs})
    assert made.status_code == 201, made.text[:500]
    body = made.json()
    assert body["created"] == 3000 and [item["index"] for item in body["items"]] == list(range(3000))
    ids = [item["jobs"][0]["id"] for item in body["items"]]
    assert ids == sorted(ids)
    assert body["items"][10]["jobs"][0]["kind"] == "sales_order" and body["items"][20]["jobs"][0]["kind"] == "pull"
    again = api.post("/jobs/bulk", json={"jobs": jobs[:5]})
    assert again.status_code == 200 and again.json()["created"] == 0
    assert [item["jobs"][0]["id"] for item in again.json()["items"]] == ids[:5]
    assert jobs_in(api) == 3000


def test_a_refused_bulk_job_refuses_the_request_naming_it(api: Api) -> None:
    api.connection("Shop")
    good = {"type": "raw", "connection": "Shop", "request": customer("A")}
    order = example("sales-order")
    del order["client"]
    for bad, status, kind, field in [
        ({"type": "raw", "connection": "Shop", "request": "<NotARequest/>"}, 422, "invalid-job", "jobs[2]"),
        ({"type": "raw", "connection": "Nope", "request": customer("B")}, 404, "not-found", "jobs[2]"),
        ({"type": "flow", "connection": "Shop", "flow": "sales_order", "entity": order}, 422, "invalid-job",
         "jobs[2].client"),
        ({"type": "pull", "connection": "Shop", "entity": "Invoice", "since": "soon"}, 422, "invalid-job",
         "jobs[2].since"),
    ]:
        assert_problem(api.post("/jobs/bulk", json={"jobs": [good, good, bad]}), status, kind, index=2, field=field)
    assert_problem(api.post("/jobs/bulk", json={"jobs": [good, {"type": "raw"}]}), 422, "invalid-request")
    assert_problem(api.post("/jobs/bulk", json={"jobs": []}), 422, "invalid-request", field="jobs")
    assert_problem(api.post("/jobs/bulk", content=b"{not json", headers={"Content-Type": "application/json"}), 422,
                   "invalid-request")
    assert jobs_in(api) == 0


@pytest.fixture
def small_api(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Iterator[Api]:
    yield from make_api(settings, engine, sessions, api_max_body_bytes=4096)


def test_a_body_over_the_limit_is_413_and_queues_nothing(small_api: Api) -> None:
    small_api.connection("Shop")
    jobs = [{"type": "raw", "connection": "Shop", "request": customer(f"C{i}")} for i in range(100)]
    assert_problem(small_api.post("/jobs/bulk", json={"jobs": jobs}), 413, "body-too-large", max_bytes=4096)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is kept while the body arrives
        yield b'{"jobs": ['
        for index, job in enumerate(jobs):
            yield (b"," if index else b"") + json.dumps(job).encode()
        yield b"]}"

    assert_problem(small_api.post("/jobs/bulk", content=chunks(), headers={"Content-Type": "application/json"}),
                   413, "body-too-large")
    assert jobs_in(small_api) == 0
    assert small_api.post("/jobs/bulk", json={"jobs": jobs[:3]}).status_code == 201
