"""What the send flows read from Fusion by id: each flow's entity, whole (its references read in), as the JSON a
flow takes; and stock levels. No database here: the callers hold the client (fusion_accounts.open_client)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qbwc_service.errors import Refusal, Refused
from qbwc_service.fusion.client import ALL_STATUSES, FusionClient, Paths

COLLECTIONS: dict[str, str] = {
    "sales_order": Paths.SALES_ORDERS, "purchase_order": Paths.PURCHASE_ORDERS, "receiving": Paths.RECEIVINGS,
    "shipment": Paths.SHIPPINGS, "time_tracking": Paths.PRODUCTION_ORDERS}
"""Each automatic flow's Fusion collection."""

WITH_STATUS = frozenset({"sales_order", "purchase_order", "time_tracking"})
"""Flows whose collection lists OPEN only unless every status is asked."""

_READERS: dict[str, Callable[[FusionClient, str], Any]] = {
    "sales_order": lambda client, key: client.sales_order(key),
    "purchase_order": lambda client, key: client.purchase_order(key),
    "receiving": lambda client, key: client.receiving(key),
    "shipment": lambda client, key: client.shipment(key),
    "time_tracking": lambda client, key: client.production_order(key),
    "stock": lambda client, key: client.stock_level(key),
}


def flow_of(name: str) -> str:
    """A flow named by itself (shipment) or by its Fusion collection (shippings); Refused otherwise."""
    if name in _READERS:
        return name
    for flow, collection in COLLECTIONS.items():
        if name == collection:
            return flow
    raise Refused(Refusal.UNKNOWN_FLOW, name, f"unknown flow {name!r}; use one of {', '.join(_READERS)} (or a "
                  f"Fusion collection: {', '.join(COLLECTIONS.values())})")


def snapshot(client: FusionClient, flow: str, fusion_id: str) -> dict[str, Any]:
    """The entity ``flow`` sends, read from Fusion by its id (stock: a product's id), as JSON."""
    raw: dict[str, Any] = _READERS[flow_of(flow)](client, fusion_id).raw
    return raw


def list_filters(flow: str) -> dict[str, list[str]]:
    return {"filter[status]": list(ALL_STATUSES)} if flow in WITH_STATUS else {}


def stock_levels(client: FusionClient, product: str | None = None) -> list[dict[str, Any]]:
    """The stock of one product (by its code) or of every product: quantity in stock, and on orders."""
    if product is not None:
        return [client.stock_level(product, by_code=True).raw]
    demands = client.sales_order_demands()
    return [client.stock_level(entity["id"], demands=demands).raw
            for entity in client.http.pages(Paths.PRODUCTS, {}) if entity.get("id") is not None]
