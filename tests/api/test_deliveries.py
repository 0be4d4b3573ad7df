"""/deliveries: records pulled from QuickBooks, listed a page at a time, shown whole, retried one by one or by
status, with the refusals a person must see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from qbwc_service import connections, deliveries
from qbwc_service.db.enums import DeliveryStatus
from qbwc_service.db.models import Delivery
from tests.api.conftest import Api, assert_problem


def pulled(api: Api, connection: str, count: int) -> list[int]:
    """``count`` sales orders stored as a pull stores them."""
    records = [deliveries.PulledRecord("SalesOrder", f"1A{n}-1795964811", "1795964811", None,
                                       f"<SalesOrderRet><TxnID>1A{n}-1795964811</TxnID></SalesOrderRet>")
               for n in range(count)]
    with api.sessions.begin() as db:
        connection_id = connections.get_connection(db, connection).id
        deliveries.store(db, connection_id, None, records, api.clock.now())
        return sorted(db.scalars(select(Delivery.id).where(Delivery.connection_id == connection_id)))


def mark(api: Api, delivery_id: int, **values: Any) -> None:
    with api.sessions.begin() as db:
        db.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))


def test_list_filters_and_pages_with_a_cursor(api: Api) -> None:
    shop = pulled(api, api.connection("Shop"), 3)
    other = pulled(api, api.connection("Other"), 1)
    mark(api, shop[0], status=DeliveryStatus.FAILED, last_error="Fusion has no product 'Widget'")
    first = api.get("/deliveries", params={"limit": 2})
    assert first.status_code == 200, first.text
    assert [d["id"] for d in first.json()["deliveries"]] == [other[0], shop[2]]
    second = api.get("/deliveries", params={"limit": 2, "cursor": first.json()["next_cursor"]})
    assert [d["id"] for d in second.json()["deliveries"]] == [shop[1], shop[0]]
    assert second.json()["next_cursor"] is None
    failed = api.get("/deliveries", params={"connection": "Shop", "status": "failed"}, headers=api.reader)
    (row,) = failed.json()["deliveries"]
    assert row["id"] == shop[0] and row["connection"] == "Shop" and row["last_error"].startswith("Fusion has no")
    assert_problem(api.get("/deliveries", params={"connection": "Nowhere"}), 404, "not-found")
    assert_problem(api.get("/deliveries", params={"status": "lost"}), 422, "invalid-request")


def test_show_has_the_quickbooks_xml_and_the_fusion_payload(api: Api) -> None:
    (made,) = pulled(api, api.connection("Shop"), 1)
    mark(api, made, status=DeliveryStatus.DELIVERED, fusion_id="100005", fusion_collection="sales-orders",
         fusion_payload={"code": "SO-1"}, outcome="sales order imported as Fusion sales order SO-1 (id 100005)")
    shown = api.get(f"/deliveries/{made}", headers=api.reader)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["ret_xml"].startswith("<SalesOrderRet>") and body["fusion_payload"] == {"code": "SO-1"}
    assert body["fusion_id"] == "100005" and body["status"] == "delivered" and body["attempts"] == 0
    assert_problem(api.get("/deliveries/999999"), 404, "not-found", what="delivery", key=999999)


def test_retry_one_or_by_status_and_the_refusals(api: Api) -> None:
    made = pulled(api, api.connection("Shop"), 3)
    mark(api, made[0], status=DeliveryStatus.FAILED, last_error="refused")
    mark(api, made[1], status=DeliveryStatus.FAILED, last_error="refused")
    assert_problem(api.post(f"/deliveries/{made[0]}/retry", headers=api.reader), 403, "not-permitted")
    retried = api.post(f"/deliveries/{made[0]}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending" and retried.json()["last_error"] is None
    assert_problem(api.post(f"/deliveries/{made[2]}/retry"), 409, "conflict")
    by_status = api.post("/deliveries/retry", json={"status": "failed", "connection": "Shop"})
    assert by_status.status_code == 200, by_status.text
    assert [d["id"] for d in by_status.json()["changed"]] == [made[1]]
    assert by_status.json()["refused"] == []
    assert_problem(api.post("/deliveries/retry", json={"status": "pending"}), 422, "invalid-request")
    listed = api.get("/deliveries", params={"connection": "Shop"}).json()["deliveries"]
    assert {d["status"] for d in listed} == {"pending"}


def test_a_pulled_customer_is_kept_as_skipped_and_is_not_retried(api: Api) -> None:
    """Only documents go to Fusion: a customer read by a pull is stored as skipped, saying why, so that pending
    counts what is on its way, and retrying it is refused rather than leaving it pending for ever."""
    record = deliveries.PulledRecord("Customer", "80000001-1795964811", "1795964811", None,
                                     "<CustomerRet><ListID>80000001-1795964811</ListID></CustomerRet>")
    name = api.connection("Shop")
    with api.sessions.begin() as db:
        deliveries.store(db, connections.get_connection(db, name).id, None, [record], api.clock.now())
    (row,) = api.get("/deliveries", params={"connection": name}).json()["deliveries"]
    assert row["status"] == "skipped" and row["outcome"] == deliveries.NOT_A_DOCUMENT
    assert_problem(api.post(f"/deliveries/{row['id']}/retry"), 422, "invalid-input")
    by_status = api.post("/deliveries/retry", json={"status": "skipped", "connection": name})
    assert by_status.json() == {"changed": [], "refused": []}
    assert api.get(f"/deliveries/{row['id']}").json()["status"] == "skipped"
