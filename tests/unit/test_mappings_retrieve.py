"""QuickBooks documents into Fusion orders: golden files (a QuickBooks ``*Ret`` in ``tests/golden/retrieve/NAME.xml``,
what it becomes, or why it is skipped, in ``CASE.json``), and the rules a user notices."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from mappings.options import RetrieveOptions
from mappings.retrieve import (
    NotRetrievable,
    build_order,
    has_marker,
    is_voided,
    product_code,
    skip_reason,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "retrieve"

FIELDS = ({"qbd_field": "Customer PO", "fusion_field": "Customer PO"},
          {"qbd_field": "Region", "fusion_field": "sales region"},
          {"qbd_field": "Not set", "fusion_field": "Unused"})

# case -> (input file, options)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "sales_order__default": ("sales_order", {"custom_fields": FIELDS}),
    "sales_order__ignore_category_names": ("sales_order", {"ignore_category_names": True}),
    "invoice__default": ("invoice", {}),
    "invoice__voided": ("invoice_voided", {}),
    "invoice__void_in_memo_only": ("invoice_void_in_memo_only", {}),
    "invoice__not_in_types": ("invoice", {"types": ["sales_order", "purchase_order"]}),
    "estimate__default": ("estimate", {}),
    "purchase_order__manually_closed_kept": ("purchase_order", {}),
    "purchase_order__manually_closed_skipped": ("purchase_order", {"skip_manually_closed": True}),
    "sales_order__from_fusion": ("sales_order_from_fusion", {}),
    "customer__not_a_document": ("customer", {}),
}


def outcome(name: str) -> dict[str, Any]:
    source, options = CASES[name]
    ret = etree.fromstring((GOLDEN / f"{source}.xml").read_bytes())
    chosen = RetrieveOptions(**options)
    reason = skip_reason(ret, chosen)
    if reason is not None:
        return {"skipped": reason}
    order = build_order(ret, chosen)
    return {"collection": order.collection, "code": order.code, "marker": order.marker, "body": order.body,
            "products": [{"code": p.code, "name": p.name} for p in order.products],
            "custom_fields": order.custom_fields}


@pytest.mark.parametrize("name", sorted(CASES))
def test_document_matches_its_golden_file(name: str) -> None:
    made = outcome(name)
    golden = GOLDEN / f"{name}.json"
    if os.environ.get("QBWC_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(made, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert made == json.loads(golden.read_text(encoding="utf-8"))


def test_every_golden_file_has_a_case() -> None:
    expected = {path.stem for path in GOLDEN.glob("*.json")}
    assert expected == set(CASES)


def test_a_voided_invoice_needs_both_the_memo_and_zero_amounts() -> None:
    voided = etree.fromstring((GOLDEN / "invoice_voided.xml").read_bytes())
    assert is_voided(voided)
    memo_only = etree.fromstring((GOLDEN / "invoice_void_in_memo_only.xml").read_bytes())
    assert not is_voided(memo_only)


def test_the_marker_is_in_the_notes_and_names_the_document() -> None:
    ret = etree.fromstring((GOLDEN / "sales_order.xml").read_bytes())
    order = build_order(ret, RetrieveOptions())
    assert has_marker(order.body["notes"], "SalesOrder", "1A9-1795964811")
    assert not has_marker(order.body["notes"], "Invoice", "1A9-1795964811")
    assert "code" not in order.update and "client" not in order.update and order.update["products"]


def test_category_names_are_dropped_only_when_asked() -> None:
    assert product_code("Hardware:Fasteners:Bolt M8", RetrieveOptions()) == "Hardware:Fasteners:Bolt M8"
    assert product_code("Hardware:Fasteners:Bolt M8", RetrieveOptions(ignore_category_names=True)) == "Bolt M8"


def test_a_document_without_a_customer_is_refused_naming_it() -> None:
    ret = etree.fromstring((GOLDEN / "invoice.xml").read_bytes())
    customer = ret.find("CustomerRef")
    assert customer is not None
    ret.remove(customer)
    with pytest.raises(NotRetrievable) as caught:
        build_order(ret, RetrieveOptions())
    assert caught.value.field == "CustomerRef" and "names no customer" in str(caught.value)
