"""/connections: create, list and show, the token (rotated and shown once, revoked), the pin, the .qwc, the
options; the two setup tests are walked against the simulated Web Connector in tests/e2e/test_api_setup.py."""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree
from sqlalchemy import select

from qbwc_service.connections import token_matches
from qbwc_service.db.enums import AuthOutcome
from qbwc_service.db.models import Connection
from tests.api.conftest import Api, assert_problem


def stored(api: Api, name: str = "Shop") -> Connection:
    with api.sessions.begin() as db:
        found = db.scalar(select(Connection).where(Connection.name == name))
        assert found is not None
        return found


def test_create_list_and_show(api: Api) -> None:
    made = api.post("/connections", json={"name": "Acme Plant"})
    assert made.status_code == 201
    assert made.json()["username"] == "acme-plant" and len(made.json()["token"]) >= 32
    assert token_matches(made.json()["token"], stored(api, "Acme Plant").token_hash)
    assert_problem(api.post("/connections", json={"name": "Acme Plant"}), 409, "exists", name="Acme Plant")
    assert_problem(api.post("/connections", json={"name": "-bad/name"}), 422, "invalid-name", name="-bad/name")
    assert_problem(api.post("/connections", json={}), 422, "invalid-request", field="name")
    listed = api.get("/connections").json()
    assert [c["name"] for c in listed] == ["Acme Plant"] and listed[0]["token"] == "active"
    shown = api.get("/connections/Acme Plant").json()
    assert shown["jobs"] == {} and shown["last_contact_at"] is None and shown["created_at"].endswith("Z")
    assert "token_hash" not in shown and made.json()["token"] not in api.get("/connections").text
    assert_problem(api.get("/connections/Nope"), 404, "not-found", what="connection", key="Nope")


def test_rotate_revoke_and_unpin(api: Api) -> None:
    first = api.post("/connections", json={"name": "Shop"}).json()["token"]
    with api.sessions.begin() as db:
        db.scalar(select(Connection)).company_file = r"C:\Books\shop.qbw"  # type: ignore[union-attr]
    rotated = api.post("/connections/Shop/token")
    assert rotated.status_code == 200
    token = rotated.json()["token"]
    assert token != first and rotated.json()["unpinned_company_file"] == r"C:\Books\shop.qbw"
    assert token_matches(token, stored(api).token_hash) and not token_matches(first, stored(api).token_hash)
    assert api.post("/connections/Shop/unpin").json() == {"name": "Shop", "unpinned_company_file": None}
    revoked = api.delete("/connections/Shop/token")
    assert revoked.status_code == 204 and revoked.content == b""
    assert api.get("/connections/Shop").json()["token"] == "revoked" and stored(api).token_hash is None
    assert api.get("/connections/Shop/connection-test").json()["advice"].startswith("The token is revoked")
    for method, path in [("POST", "/token"), ("DELETE", "/token"), ("POST", "/unpin"), ("GET", "/qwc"),
                         ("GET", "/connection-test"), ("GET", "/access-test"), ("POST", "/access-test"),
                         ("GET", "/options"), ("PATCH", "/options")]:
        answer = api.client.request(method, f"/api/v1/connections/Nope{path}", headers=api.admin,
                                    json={} if method == "PATCH" else None)
        assert_problem(answer, 404, "not-found", what="connection")


def test_the_qwc_file_downloads(api: Api) -> None:
    api.connection("Acme Plant")
    answer = api.get("/connections/Acme Plant/qwc")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    assert 'filename="Acme_Plant.qwc"' in answer.headers["content-disposition"]
    qwc = etree.fromstring(answer.content)
    assert qwc.findtext("AppURL") == "http://localhost:8080/qbwc" and qwc.findtext("UserName") == "acme-plant"


def test_connection_test_reports_what_the_connection_row_says(api: Api) -> None:
    api.connection("Shop")
    before = api.get("/connections/Shop/connection-test").json()
    assert before["reached"] is False and before["authenticated"] is None and "has not called yet" in before["advice"]
    seen = datetime(2026, 12, 1, 9, 30)
    with api.sessions.begin() as db:
        row = db.scalar(select(Connection))
        assert row is not None
        row.last_contact_at = row.last_auth_at = seen
        row.last_auth_outcome = AuthOutcome.WRONG_PASSWORD
        row.client_version = "2.3.0.215"
    after = api.get("/connections/Shop/connection-test").json()
    assert after["reached"] is True and after["authenticated"] is False
    assert after["last_contact_at"] == seen.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    assert after["client_version"] == "2.3.0.215" and "type the token again" in after["advice"]


def test_access_test_queues_the_probe_once_per_key(api: Api) -> None:
    api.connection("Shop")
    assert api.get("/connections/Shop/access-test").json()["status"] == "not-run"
    first = api.post("/connections/Shop/access-test", headers={"Idempotency-Key": "wizard-1"})
    again = api.post("/connections/Shop/access-test", headers={"Idempotency-Key": "wizard-1"})
    assert first.status_code == 201 and again.status_code == 200 and first.json()["id"] == again.json()["id"]
    assert first.json()["kind"] == "probe"
    shown = api.get("/connections/Shop/access-test").json()
    assert shown["status"] == "queued" and shown["job_id"] == first.json()["id"] and shown["company_name"] is None


def test_options_are_read_and_changed_and_a_bad_one_is_422_naming_it(api: Api) -> None:
    api.connection("Shop")
    options = api.get("/connections/Shop/options").json()
    assert options["stock_sync"] is False and options["sales_orders"] == {"manual": True, "automatic": False}
    changed = api.patch("/connections/Shop/options", json={"set": {"sales_orders.automatic": True,
                                                                   "document_number": "fusion_code"}})
    assert changed.status_code == 200
    assert changed.json()["sales_orders"]["automatic"] is True and changed.json()["document_number"] == "fusion_code"
    assert_problem(api.patch("/connections/Shop/options", json={"set": {"stock_sync": True}}), 422,
                   "invalid-option", field="stock_sync")
    wrong = assert_problem(api.patch("/connections/Shop/options", json={"set": {"document_number": "random"}}),
                           422, "invalid-option", field="document_number")
    assert "quickbooks_sequence" in wrong["reason"]
    unknown = assert_problem(api.patch("/connections/Shop/options", json={"unset": ["sales_order.automatic"]}),
                             422, "invalid-option", field="sales_order.automatic")
    assert "did you mean sales_orders?" in unknown["reason"]
    assert_problem(api.patch("/connections/Shop/options", json={"set": []}), 422, "invalid-request", field="set")
    reset = api.patch("/connections/Shop/options", json={"unset": ["sales_orders.automatic"]}).json()
    assert reset["sales_orders"]["automatic"] is False and reset["document_number"] == "fusion_code"
