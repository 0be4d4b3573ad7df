"""/healthz, /metrics (Prometheus text, behind a key unless a setting says otherwise), and the OpenAPI
document: valid, and listing every route the API serves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service.api import automation, connections, deliveries, enqueue, jobs
from qbwc_service.settings import Settings
from tests.api.conftest import Api, assert_problem, make_api


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_healthz_answers_get_and_head_without_a_key(api: Api) -> None:
    got = api.client.get("/healthz")
    assert got.status_code == 200 and got.json() == {"status": "ok", "database": "reachable"}
    head = api.client.head("/healthz")
    assert head.status_code == 200 and head.content == b""


def test_metrics_need_a_key_and_report_the_queue(api: Api) -> None:
    assert_problem(api.client.get("/metrics"), 401, "not-authenticated")
    api.connection("Shop")
    api.connection("Idle")
    for name in ("A", "B", "C"):
        api.post("/connections/Shop/raw", json={"request": f"<CustomerAddRq><CustomerAdd><Name>{name}</Name>"
                                                           "</CustomerAdd></CustomerAddRq>"})
    api.clock.advance(minutes=5)
    api.post("/connections/Shop/access-test")
    api.lose_all("Shop")  # the probe (a read) goes back to the queue; the three writes are unknown
    api.clock.advance(seconds=30)
    answer = api.client.get("/metrics", headers=api.reader)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=")
    got = samples(answer.text)
    assert got[("qbwc_jobs", (("connection", "Shop"), ("status", "unknown")))] == 3
    assert got[("qbwc_jobs", (("connection", "Shop"), ("status", "queued")))] == 1
    assert got[("qbwc_jobs", (("connection", "Idle"), ("status", "queued")))] == 0
    assert got[("qbwc_oldest_queued_job_age_seconds", (("connection", "Shop"),))] == 30
    assert ("qbwc_oldest_queued_job_age_seconds", (("connection", "Idle"),)) not in got
    assert got[("qbwc_sessions_open", (("connection", "Shop"),))] == 0
    assert got[("qbwc_deliveries_pending", (("connection", "Shop"),))] == 0
    assert got[("qbwc_recent_window_seconds", ())] == 3600


@pytest.fixture
def public_metrics(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Iterator[Api]:
    yield from make_api(settings, engine, sessions, metrics_public=True)


def test_a_setting_serves_metrics_without_a_key(public_metrics: Api) -> None:
    answer = public_metrics.client.get("/metrics")
    assert answer.status_code == 200 and "qbwc_recent_window_seconds 3600.0" in answer.text
    assert public_metrics.client.get("/api/v1/jobs").status_code == 401  # the API still needs one


def test_the_openapi_document_is_valid_and_lists_every_route(api: Api) -> None:
    document: dict[str, Any] = api.get("/openapi.json").json()
    validate(document)
    assert document["servers"] == [{"url": "/api/v1"}]
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]["apiKey"][
            "description"]}
    routers = (connections.router, enqueue.router, jobs.router, deliveries.router, automation.router)
    routes = [(route.path, method.lower()) for router in routers
              for route in router.routes if isinstance(route, APIRoute) for method in route.methods]
    assert len(routes) >= 25
    for path, method in routes:
        operation = document["paths"][path][method]
        assert operation["security"] == [{"apiKey": []}], (path, method)
        for status in ("401", "403", "422"):
            assert set(operation["responses"][status]["content"]) == {"application/problem+json"}, (path, method)
    listed = {(path, method) for path, item in document["paths"].items() for method in item}
    assert listed == {*routes, (automation.WEBHOOK_PATH, "post")}
    assert document["paths"][automation.WEBHOOK_PATH]["post"]["security"] == []  # signed instead
    assert "/jobs/bulk" in document["paths"] and "/connections/{name}/flows/{flow}" in document["paths"]
