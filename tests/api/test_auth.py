"""API keys: without a valid one, 401 and nothing changes; a read-only key reads, and its writes are 403. The
OpenAPI document and the docs need a key too (or are off), and nothing served names the service's version."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import __version__, connection_usecases
from qbwc_service.db.models import ApiKey, Connection
from qbwc_service.settings import Settings
from tests.api.conftest import Api, assert_problem, make_api


def connections_in(api: Api) -> int:
    with api.sessions.begin() as db:
        return db.scalar(select(func.count()).select_from(Connection)) or 0


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer qbwc_nothing",
                                           "Bearer qbwc_0123456789abcdef_" + "A" * 32])
def test_without_a_valid_key_every_route_is_401_and_nothing_changes(api: Api, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path, body in [("GET", "/connections", None), ("POST", "/connections", {"name": "Shop"}),
                               ("POST", "/jobs/bulk", {"jobs": "not even valid"}), ("GET", "/jobs/1", None),
                               ("GET", "/no-such-route", None), ("GET", "/openapi.json", None), ("GET", "/docs", None)]:
        answer = api.client.request(method, f"/api/v1{path}", headers=headers, json=body)
        problem = assert_problem(answer, 401, "not-authenticated")
        assert problem["instance"] == f"/api/v1{path}" and problem["reason"]
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert connections_in(api) == 0


def test_a_key_that_was_revoked_stops_working_at_once(api: Api) -> None:
    assert api.get("/connections").status_code == 200
    with api.sessions.begin() as db:
        connection_usecases.revoke_api_key(db, "admin")
    assert_problem(api.get("/connections"), 401, "not-authenticated",
                   reason="the API key is not valid: unknown, revoked or mistyped")
    mistyped = api.admin_key[:-1] + ("B" if api.admin_key[-1] != "B" else "C")
    assert_problem(api.client.get("/api/v1/connections", headers={"Authorization": f"Bearer {mistyped}"}), 401,
                   "not-authenticated")


def test_a_read_only_key_reads_and_its_writes_are_403(api: Api) -> None:
    api.connection("Shop")
    assert api.client.get("/api/v1/connections/Shop", headers=api.reader).status_code == 200
    assert api.client.get("/api/v1/jobs", headers=api.reader).status_code == 200
    for method, path, body in [("POST", "/connections", {"name": "Other"}), ("POST", "/connections/Shop/token", None),
                               ("DELETE", "/connections/Shop/token", None),
                               ("PATCH", "/connections/Shop/options", {"set": {"stock_sync": True}}),
                               ("POST", "/connections/Shop/access-test", None), ("POST", "/jobs/1/retry", None)]:
        answer = api.client.request(method, f"/api/v1{path}", headers=api.reader, json=body)
        assert_problem(answer, 403, "not-permitted", scope="read-only", needed="admin")
    assert connections_in(api) == 1
    assert api.get("/connections/Shop").json()["token"] == "active"


def test_the_last_use_of_a_key_is_noted_at_most_hourly(api: Api) -> None:
    def last_used() -> object:
        with api.sessions.begin() as db:
            return db.scalar(select(ApiKey.last_used_at).where(ApiKey.name == "reader"))

    assert last_used() is None
    api.client.get("/api/v1/jobs", headers=api.reader)
    first = last_used()
    assert first == api.clock.now()
    api.clock.advance(minutes=30)
    api.client.get("/api/v1/jobs", headers=api.reader)
    assert last_used() == first
    api.clock.advance(minutes=31)
    api.client.get("/api/v1/jobs", headers=api.reader)
    assert last_used() == api.clock.now()


def test_the_openapi_document_and_docs_are_served_to_a_key_and_never_name_the_version(api: Api) -> None:
    document = api.client.get("/api/v1/openapi.json", headers=api.reader)
    assert document.status_code == 200 and document.json()["info"]["version"] == "1"
    docs = api.client.get("/api/v1/docs", headers=api.reader)
    assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text
    for path in document.json()["paths"]:  # every operation is on the page, and nothing is fetched from elsewhere
        assert f"/api/v1{path}" in docs.text
    assert "<script" not in docs.text and "cdn" not in docs.text.lower()
    for path in ("/docs", "/openapi.json", "/redoc"):  # the root app documents nothing
        assert api.client.get(path, headers=api.admin).status_code == 404
    health = api.client.get("/healthz")
    answers = [document, docs, health, api.get("/connections"), api.client.get("/support"),
               api.client.get("/metrics", headers=api.reader), api.get("/nowhere")]
    for answer in answers:
        assert __version__ not in answer.text
        assert not any(__version__ in value for value in answer.headers.values())


@pytest.fixture
def api_without_docs(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Iterator[Api]:
    yield from make_api(settings, engine, sessions, api_docs=False)


def test_a_setting_turns_the_docs_off(api_without_docs: Api) -> None:
    for path in ("/openapi.json", "/docs"):
        assert_problem(api_without_docs.get(path), 404, "not-found")
    assert api_without_docs.get("/connections").status_code == 200
