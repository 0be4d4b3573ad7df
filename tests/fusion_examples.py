"""Fusion Operations entities for tests, shaped as the Fusion API delivers them (camelCase JSON).

Each function returns a fresh, validated snapshot; tests derive variants with ``model_copy(update=...)``.
"""

from __future__ import annotations

from typing import Any

from qbwc_service.fusion.models import Client, PurchaseOrder, Receiving, SalesOrder, Shipment


def client_json() -> dict[str, Any]:
    return {
        "id": 501,
        "code": "ACME",
        "name": "Acme Corporation",
        "market": {"id": 7, "name": "Acme Retail"},
        "customFields": {"QuickBooks customer": "Acme Corp:Retail"},
    }


def sales_order_json() -> dict[str, Any]:
    return {
        "id": 1001,
        "code": "SO-1001",
        "client": client_json(),
        "status": "OPEN",
        "createdAt": "2026-03-02T09:15:00",
        "transferDate": "2026-03-03",
        "documentDate": "2026-03-01",
        "dueDate": "2026-03-20",
        "notes": "Rush order",
        "shippingNotes": "Ship on pallets",
        "lines": [
            {"id": 11, "product": {"id": 901, "code": "BRKT-10", "name": "Steel bracket 10 mm",
                                   "notes": "Zinc plated"},
             "quantity": 10, "unitPrice": 2.5},
            {"id": 12, "product": {"id": 902, "code": "BOLT-M8", "name": "Bolt M8"},
             "quantity": 250, "unitPrice": 0.0125},
            {"id": 13, "product": {"id": 903, "code": "KIT-A"}, "quantity": 1},
        ],
    }


def purchase_order_json() -> dict[str, Any]:
    return {
        "id": 2001,
        "code": "PO-2001",
        "supplier": {"id": 601, "code": "STEELCO", "name": "Steel Co"},
        "status": "OPEN",
        "createdAt": "2026-03-04T14:00:00",
        "documentDate": "2026-03-02",
        "dueDate": "2026-03-25",
        "notes": "Confirm by phone",
        "receivingNotes": "Dock 2",
        "lines": [
            {"id": 21, "product": {"id": 911, "code": "BAR-20", "name": "Steel bar 20 mm",
                                   "notes": "Cut to length"},
             "quantity": 40, "unitCost": 7.2},
            {"id": 22, "product": {"id": 912, "code": "PAINT-RAL", "name": "Paint RAL 5010"},
             "quantity": 3.5, "unitPrice": 18.9},
        ],
    }


def client() -> Client:
    return Client.model_validate(client_json())


def sales_order() -> SalesOrder:
    return SalesOrder.model_validate(sales_order_json())


def purchase_order() -> PurchaseOrder:
    return PurchaseOrder.model_validate(purchase_order_json())


def receiving() -> Receiving:
    """A partial receiving: 25 of 40 bars at a new cost, all the paint at the ordered cost."""
    return Receiving.model_validate({
        "id": 3001,
        "code": "RC-3001",
        "purchaseOrder": purchase_order_json(),
        "createdAt": "2026-03-12T08:30:00",
        "documentDate": "2026-03-11",
        "notes": "Two bars bent",
        "lines": [
            {"id": 31, "purchaseOrderLineId": 21, "product": {"id": 911, "code": "BAR-20", "name": "Steel bar 20 mm"},
             "quantity": 25, "unitCost": 7.35},
            {"id": 32, "purchaseOrderLineId": 22, "product": {"id": 912, "code": "PAINT-RAL",
                                                              "name": "Paint RAL 5010"},
             "quantity": 3.5},
        ],
    })


def receiving_without_lines() -> Receiving:
    return receiving().model_copy(update={"id": 3002, "code": "RC-3002", "lines": []})


def shipment() -> Shipment:
    """A partial shipment: 4 of 10 brackets (no price of its own), every bolt at a new price, no kit."""
    return Shipment.model_validate({
        "id": 4001,
        "code": "SH-4001",
        "salesOrder": sales_order_json(),
        "createdAt": "2026-03-15T16:45:00",
        "documentDate": "2026-03-14",
        "notes": "Partial: kit back-ordered",
        "lines": [
            {"id": 41, "salesOrderLineId": 11, "product": {"id": 901, "code": "BRKT-10",
                                                           "name": "Steel bracket 10 mm"},
             "quantity": 4},
            {"id": 42, "salesOrderLineId": 12, "product": {"id": 902, "code": "BOLT-M8", "name": "Bolt M8"},
             "quantity": 250, "unitPrice": 0.012},
        ],
    })
