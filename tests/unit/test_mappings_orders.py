"""Sales orders, purchase orders, bills, invoices, the items a purchase order creates, and the lookups that
find a lost add: golden files per flow and option (canonical form), Intuit's schema, the company's qbXML
version, and the rules a user notices (quantities invoiced, links, names that cannot be found)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pytest
from lxml import etree

from mappings.common import LinkedTxn, MappingContext, Version, has_marker, marker_for
from mappings.errors import MappingError
from mappings.linking import line_ids
from mappings.names import customer_full_name, format_price, line_description
from mappings.options import IntegrationOptions
from mappings.purchase_order import build_item_add, build_purchase_order_add
from mappings.receiving import build_bill_add
from mappings.reconcile import (
    build_bill_lookup,
    build_invoice_lookup,
    build_purchase_order_lookup,
    build_sales_order_lookup,
    find_ours,
)
from mappings.sales_order import build_sales_order_add
from mappings.shipment import build_invoice_add
from qbwc_service.fusion.models import Client, Market
from qbwc_service.qbxml.envelope import Request, build_message_set
from qbwc_service.qbxml.limits import make_safe
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from tests import fusion_examples as examples

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "mappings"
OWNER = "acme-plant"
SYNC_DATE = date(2026, 3, 16)
MODIFIED_SINCE = "2026-03-16T09:58:00"
V13: Version = (13, 0)
LINKED_SO = LinkedTxn("1A2B-1773650000", {"11": "1A2C-1773650000", "12": "1A2D-1773650000",
                                          "13": "1A2E-1773650000"})
LINKED_PO = LinkedTxn("2B3C-1773650000", {"21": "2B3D-1773650000", "22": "2B3E-1773650000"})

Built = tuple[etree._Element, Version]


def context(flow: str, entity_id: int, version: Version = V13, linked: LinkedTxn | None = None) -> MappingContext:
    """What the service gives a mapping: the ExternalGUID only where the version has it on transactions."""
    marker, guid = marker_for(OWNER, flow, entity_id)
    return MappingContext(version, SYNC_DATE, marker, guid if version >= (9, 0) else None, linked)


def sales_order(version: Version = V13, **options: Any) -> Built:
    ctx = context("sales_order", 1001, version)
    return build_sales_order_add(examples.sales_order(), IntegrationOptions(**options), ctx), version


def purchase_order(version: Version = V13, **options: Any) -> Built:
    ctx = context("purchase_order", 2001, version)
    return build_purchase_order_add(examples.purchase_order(), IntegrationOptions(**options), ctx), version


def bill(version: Version = V13, linked: LinkedTxn | None = None, without_lines: bool = False,
         **options: Any) -> Built:
    receiving = examples.receiving_without_lines() if without_lines else examples.receiving()
    ctx = context("receiving", int(receiving.id), version, linked)
    return build_bill_add(receiving, IntegrationOptions(**options), ctx), version


def invoice(version: Version = V13, linked: LinkedTxn | None = None, **options: Any) -> Built:
    ctx = context("shipment", 4001, version, linked)
    return build_invoice_add(examples.shipment(), IntegrationOptions(**options), ctx), version


def item_add(by: Literal["full_name", "list_id"]) -> Built:
    account = "80000005-1773650000" if by == "list_id" else "Sales:Hardware"
    options = IntegrationOptions(create_missing_items=True, item_income_account=account, item_income_account_by=by)
    return build_item_add(examples.purchase_order().lines[0].product, options), V13


def lookup(kind: str, version: Version = V13, **options: Any) -> Built:
    opts = IntegrationOptions(**options)
    if kind == "sales_order":
        element = build_sales_order_lookup(examples.sales_order(), opts, context("sales_order", 1001, version),
                                           MODIFIED_SINCE)
    elif kind == "purchase_order":
        element = build_purchase_order_lookup(examples.purchase_order(), opts,
                                              context("purchase_order", 2001, version), MODIFIED_SINCE)
    elif kind == "bill":
        element = build_bill_lookup(examples.receiving(), opts, context("receiving", 3001, version), MODIFIED_SINCE)
    else:
        element = build_invoice_lookup(examples.shipment(), opts, context("shipment", 4001, version), MODIFIED_SINCE)
    return element, version


NO_LINE_IDS = LinkedTxn(LINKED_PO.txn_id)
FUSION_CODE: dict[str, Any] = {"document_number": "fusion_code"}

CASES: dict[str, Callable[[], Built]] = {
    "sales_order__default": lambda: sales_order(),
    "sales_order__document_number_fusion_code": lambda: sales_order(**FUSION_CODE),
    "sales_order__customer_name_market_name": lambda: sales_order(customer_name="market_name"),
    "sales_order__customer_name_market_custom_field": lambda: sales_order(customer_name="market_custom_field"),
    "sales_order__document_date_document_date": lambda: sales_order(document_date="document_date"),
    "sales_order__document_date_sync_date": lambda: sales_order(document_date="sync_date"),
    "sales_order__ship_date_due_date": lambda: sales_order(ship_date="due_date"),
    "sales_order__line_description_product_notes": lambda: sales_order(line_description="product_notes"),
    "sales_order__line_description_shipping_notes": lambda: sales_order(line_description="shipping_notes"),
    "sales_order__version_8_0": lambda: sales_order((8, 0)),
    "purchase_order__default": lambda: purchase_order(),
    "purchase_order__document_number_fusion_code": lambda: purchase_order(**FUSION_CODE),
    "purchase_order__document_date_document_date": lambda: purchase_order(document_date="document_date"),
    "purchase_order__document_date_sync_date": lambda: purchase_order(document_date="sync_date"),
    "purchase_order__ship_date_due_date": lambda: purchase_order(ship_date="due_date"),
    "purchase_order__line_description_product_notes": lambda: purchase_order(line_description="product_notes"),
    "purchase_order__line_description_shipping_notes": lambda: purchase_order(line_description="shipping_notes"),
    "purchase_order__version_8_0": lambda: purchase_order((8, 0)),
    "item_add__full_name": lambda: item_add("full_name"),
    "item_add__list_id": lambda: item_add("list_id"),
    "bill__default": lambda: bill(),
    "bill__default_linked": lambda: bill(linked=LINKED_PO),
    "bill__default_linked_no_line_ids": lambda: bill(linked=NO_LINE_IDS),
    "bill__partial": lambda: bill(partial_billing=True),
    "bill__partial_linked": lambda: bill(linked=LINKED_PO, partial_billing=True),
    "bill__partial_linked_version_3_0": lambda: bill((3, 0), linked=LINKED_PO, partial_billing=True),
    "bill__document_number_fusion_code": lambda: bill(**FUSION_CODE),
    "bill__document_date_document_date": lambda: bill(document_date="document_date"),
    "bill__document_date_sync_date": lambda: bill(document_date="sync_date"),
    "bill__line_description_shipping_notes": lambda: bill(line_description="shipping_notes"),
    "bill__version_8_0": lambda: bill((8, 0)),
    "invoice__default": lambda: invoice(),
    "invoice__default_linked": lambda: invoice(linked=LINKED_SO),
    "invoice__partial": lambda: invoice(partial_invoicing=True),
    "invoice__partial_linked": lambda: invoice(linked=LINKED_SO, partial_invoicing=True),
    "invoice__partial_linked_version_5_0": lambda: invoice((5, 0), linked=LINKED_SO, partial_invoicing=True),
    "invoice__document_number_fusion_code": lambda: invoice(**FUSION_CODE),
    "invoice__customer_name_market_name": lambda: invoice(customer_name="market_name"),
    "invoice__document_date_document_date": lambda: invoice(document_date="document_date"),
    "invoice__document_date_sync_date": lambda: invoice(document_date="sync_date"),
    "invoice__ship_date_due_date": lambda: invoice(ship_date="due_date"),
    "invoice__line_description_shipping_notes": lambda: invoice(line_description="shipping_notes"),
    "invoice__version_8_0": lambda: invoice((8, 0)),
    "lookup__sales_order": lambda: lookup("sales_order"),
    "lookup__sales_order_ref_number": lambda: lookup("sales_order", **FUSION_CODE),
    "lookup__sales_order_version_8_0": lambda: lookup("sales_order", (8, 0)),
    "lookup__sales_order_version_3_0": lambda: lookup("sales_order", (3, 0)),
    "lookup__purchase_order": lambda: lookup("purchase_order"),
    "lookup__purchase_order_ref_number": lambda: lookup("purchase_order", **FUSION_CODE),
    "lookup__bill": lambda: lookup("bill"),
    "lookup__bill_ref_number": lambda: lookup("bill", **FUSION_CODE),
    "lookup__invoice": lambda: lookup("invoice"),
    "lookup__invoice_ref_number": lambda: lookup("invoice", **FUSION_CODE),
}


def message(built: Built) -> str:
    element, version = built
    return build_message_set([Request("1", element)], version)


def canonical(text: str) -> bytes:
    body = text[text.index("<QBXML>"):]
    return etree.tostring(etree.fromstring(body.encode()), method="c14n")


def request_of(built: Built) -> etree._Element:
    return built[0]


def lines(element: etree._Element, tag: str) -> list[etree._Element]:
    return list(element.iter(tag))


def texts(element: etree._Element, path: str) -> list[str]:
    return [node.text or "" for node in element.iterfind(path)]


@pytest.fixture
def schema(qbxml_schema_130: etree.XMLSchema) -> etree.XMLSchema:
    return qbxml_schema_130


# ---- golden files, schema, version ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_request_matches_its_golden_file(name: str) -> None:
    text = message(CASES[name]())
    golden = GOLDEN / f"{name}.xml"
    if os.environ.get("QBWC_UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    assert text.splitlines()[:2] == expected.splitlines()[:2]  # prolog and qbxml version, byte for byte
    assert canonical(text) == canonical(expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_request_is_valid_qbxml(name: str, schema: etree.XMLSchema) -> None:
    document = etree.fromstring(canonical(message(CASES[name]())))
    assert schema.validate(document), str(schema.error_log)


@pytest.mark.parametrize("name", sorted(CASES))
def test_request_uses_only_what_its_qbxml_version_has(name: str) -> None:
    element, version = CASES[name]()
    assert make_safe(copy.deepcopy(element), version) == []  # raises UnsupportedVersion on a newer element


def test_every_golden_file_of_these_flows_has_a_case() -> None:
    prefixes = tuple(f"{flow}__" for flow in ("sales_order", "purchase_order", "item_add", "bill", "invoice",
                                              "lookup"))
    assert sorted(p.stem for p in GOLDEN.glob("*.xml") if p.stem.startswith(prefixes)) == sorted(CASES)


# ---- options ----------------------------------------------------------------------------------------------


def test_document_number_fusion_code_is_the_ref_number_and_the_default_leaves_numbering_to_quickbooks() -> None:
    assert texts(request_of(sales_order()), ".//RefNumber") == []
    assert texts(request_of(sales_order(**FUSION_CODE)), ".//RefNumber") == ["SO-1001"]
    assert texts(request_of(bill(**FUSION_CODE)), ".//RefNumber") == ["RC-3001"]
    assert texts(request_of(invoice(**FUSION_CODE)), ".//RefNumber") == ["SH-4001"]


def test_customer_name_options_choose_the_quickbooks_customer() -> None:
    assert texts(request_of(sales_order()), "SalesOrderAdd/CustomerRef/FullName") == ["ACME"]
    assert texts(request_of(sales_order(customer_name="market_name")), ".//CustomerRef/FullName") == ["Acme Retail"]
    assert texts(request_of(invoice(customer_name="market_custom_field")),
                 ".//CustomerRef/FullName") == ["Acme Corp:Retail"]
    named = examples.client().model_copy(update={"custom_fields": {"QB": 4711}})
    options = IntegrationOptions(customer_name="market_custom_field", customer_custom_field="QB")
    assert customer_full_name(named, options) == "4711"


MARKET_FIELD = IntegrationOptions(customer_name="market_custom_field")


def _client(market_fields: dict[str, Any] | None, client_fields: dict[str, Any]) -> Client:
    market = None if market_fields is None else {"id": 7, "name": "Acme Retail", "customFields": market_fields}
    return Client.model_validate({"code": "ACME", "market": market, "customFields": client_fields})


def test_the_quickbooks_customer_field_is_read_from_the_market_first() -> None:
    # Fusion's Market integration page holds the "QuickBooks customer" field: every client of the market goes
    # to that customer, whatever the client's own field says.
    both = _client({"QuickBooks customer": "Retail Customers"}, {"QuickBooks customer": "Acme Corp"})
    assert customer_full_name(both, MARKET_FIELD) == "Retail Customers"
    order = examples.sales_order().model_copy(update={"client": both})
    assert texts(build_sales_order_add(order, MARKET_FIELD, context("sales_order", 1001)),
                 ".//CustomerRef/FullName") == ["Retail Customers"]


@pytest.mark.parametrize(("market_fields", "client_fields"), [
    (None, {"QuickBooks customer": "Acme Corp"}),  # no market
    ({}, {"QuickBooks customer": "Acme Corp"}),  # a market without the field
    ({"QuickBooks customer": " "}, {"QuickBooks customer": "Acme Corp"}),  # a market with it empty
    ({"Other": "x"}, {"QuickBooks customer": "Acme Corp"}),
])
def test_the_clients_own_field_is_the_fallback(market_fields: dict[str, Any] | None,
                                               client_fields: dict[str, Any]) -> None:
    assert customer_full_name(_client(market_fields, client_fields), MARKET_FIELD) == "Acme Corp"


@pytest.mark.parametrize(("market_fields", "where"), [
    (None, "the client has no market"),
    ({}, "market 'Acme Retail'"),
    ({"QuickBooks customer": ""}, "market 'Acme Retail'"),
])
def test_a_quickbooks_customer_field_on_neither_names_both_places(market_fields: dict[str, Any] | None,
                                                                  where: str) -> None:
    with pytest.raises(MappingError) as refused:
        customer_full_name(_client(market_fields, {"QuickBooks customer": None}), MARKET_FIELD)
    assert str(refused.value) == (
        "client 'ACME': customer_name is 'market_custom_field' but the custom field 'QuickBooks customer' is "
        f"absent or empty both on the client's market ({where}: client.market.custom_fields['QuickBooks customer']) "
        "and on the client (client.custom_fields['QuickBooks customer'])")


def test_the_market_keeps_its_custom_fields_through_the_queue() -> None:
    # The snapshot stored on a job (snake_case) validates back to the same market fields.
    client = _client({"QuickBooks customer": "Retail Customers"}, {})
    again = Client.model_validate(client.model_dump(mode="json", by_alias=False))
    assert again.market == Market(id=7, name="Acme Retail", custom_fields={"QuickBooks customer": "Retail Customers"})


@pytest.mark.parametrize(
    ("update", "options", "named"),
    [
        ({"market": None}, {"customer_name": "market_name"}, "client.market.name"),
        ({"market": Market(id=7)}, {"customer_name": "market_name"}, "client.market.name"),
        ({"custom_fields": {}}, {"customer_name": "market_custom_field"},
         "client.custom_fields['QuickBooks customer']"),
        ({"custom_fields": {"QuickBooks customer": "  "}}, {"customer_name": "market_custom_field"},
         "client.custom_fields['QuickBooks customer']"),
        ({"custom_fields": {"QB": ["a", "b"]}}, {"customer_name": "market_custom_field", "customer_custom_field": "QB"},
         "client.custom_fields['QB']"),
    ],
)
def test_a_customer_name_that_cannot_be_found_is_a_mapping_error_naming_the_field(
    update: dict[str, Any], options: dict[str, Any], named: str
) -> None:
    order = examples.sales_order()
    order = order.model_copy(update={"client": order.client.model_copy(update=update)})
    with pytest.raises(MappingError, match=r"client 'ACME'.*" + named.replace("[", r"\[").replace("]", r"\]")):
        build_sales_order_add(order, IntegrationOptions(**options), context("sales_order", 1001))


def test_the_invoice_refuses_a_customer_name_that_cannot_be_found_too() -> None:
    shipment = examples.shipment()
    client = shipment.sales_order.client.model_copy(update={"market": None})
    shipment = shipment.model_copy(update={"sales_order": shipment.sales_order.model_copy(update={"client": client})})
    with pytest.raises(MappingError, match=r"client\.market\.name"):
        build_invoice_add(shipment, IntegrationOptions(customer_name="market_name"), context("shipment", 4001))


def test_document_date_options_and_their_fallbacks() -> None:
    order = examples.sales_order()
    ctx = context("sales_order", 1001)

    def txn_date(entity: Any, **options: Any) -> str:
        return texts(build_sales_order_add(entity, IntegrationOptions(**options), ctx), ".//TxnDate")[0]

    assert txn_date(order) == "2026-03-03"  # the transfer date
    assert txn_date(order, document_date="document_date") == "2026-03-01"
    assert txn_date(order, document_date="sync_date") == "2026-03-16"
    bare = order.model_copy(update={"transfer_date": None, "document_date": None})
    assert txn_date(bare) == "2026-03-16"
    assert txn_date(bare, document_date="document_date") == "2026-03-16"
    # purchase orders, bills and invoices: the creation date by default
    assert texts(request_of(purchase_order()), ".//TxnDate") == ["2026-03-04"]
    assert texts(request_of(bill()), ".//TxnDate") == ["2026-03-12"]
    assert texts(request_of(invoice()), ".//TxnDate") == ["2026-03-15"]
    assert texts(request_of(invoice(document_date="document_date")), ".//TxnDate") == ["2026-03-14"]


def test_ship_date_due_date_is_the_ship_date_of_orders_and_invoices_the_expected_date_of_purchase_orders() -> None:
    assert texts(request_of(sales_order(ship_date="due_date")), ".//ShipDate") == ["2026-03-20"]
    assert texts(request_of(invoice(ship_date="due_date")), ".//ShipDate") == ["2026-03-20"]
    assert texts(request_of(purchase_order(ship_date="due_date")), ".//ExpectedDate") == ["2026-03-25"]
    assert texts(request_of(sales_order()), ".//ShipDate") == []
    assert texts(request_of(purchase_order()), ".//ExpectedDate") == []


def test_ship_date_does_not_change_a_bill() -> None:
    assert canonical(message(bill(ship_date="due_date"))) == canonical(message(bill()))


def test_line_description_options() -> None:
    product = examples.sales_order().lines[0].product
    nameless = examples.sales_order().lines[2].product
    assert line_description(product, IntegrationOptions(), "Ship on pallets") == "Steel bracket 10 mm"
    assert line_description(product, IntegrationOptions(line_description="product_notes"), None) == "Zinc plated"
    shipping = IntegrationOptions(line_description="shipping_notes")
    assert line_description(product, shipping, "Ship on pallets") == "Ship on pallets"
    # an empty choice falls back to the product name, then the code
    assert line_description(product, shipping, None) == "Steel bracket 10 mm"
    assert line_description(nameless, IntegrationOptions(line_description="product_notes"), None) == "KIT-A"
    assert texts(request_of(purchase_order(line_description="shipping_notes")), ".//Desc") == ["Dock 2", "Dock 2"]


def test_unit_prices_keep_their_fractions_of_a_cent() -> None:
    assert texts(request_of(sales_order()), ".//Rate") == ["2.50", "0.0125"]  # the kit has no price: no Rate
    assert [format_price(v) for v in (3, 0.1, 7.35, 0.0125, 1.234567)] == ["3.00", "0.10", "7.35", "0.0125",
                                                                           "1.23457"]


def test_the_external_guid_is_written_only_where_the_version_has_it() -> None:
    assert texts(request_of(sales_order()), ".//ExternalGUID") == [context("sales_order", 1001).external_guid]
    marker, guid = marker_for(OWNER, "sales_order", 1001)
    at_8 = MappingContext((8, 0), SYNC_DATE, marker, guid)  # even when given one
    assert texts(build_sales_order_add(examples.sales_order(), IntegrationOptions(), at_8), ".//ExternalGUID") == []


def test_the_marker_survives_long_notes_after_quickbooks_respelling_and_cutting() -> None:
    order = examples.sales_order().model_copy(update={"notes": "Rush € order " * 600})
    ctx = context("sales_order", 1001)
    request = build_sales_order_add(order, IntegrationOptions(), ctx)
    make_safe(request, V13)  # what the service does before sending
    memo = request.findtext(".//Memo")
    assert memo is not None and len(memo) <= 4095
    assert has_marker(memo, ctx.marker)


# ---- quantities and links -----------------------------------------------------------------------------------


def quantities(element: etree._Element, line_tag: str) -> list[tuple[str, str]]:
    return [(line.findtext("ItemRef/FullName") or line.findtext("LinkToTxn/TxnLineID") or "",
             line.findtext("Quantity") or "") for line in lines(element, line_tag)]


def test_an_invoice_carries_the_full_ordered_quantity_by_default_and_the_shipped_quantity_when_partial() -> None:
    # The shipment sent 4 of 10 brackets, all 250 bolts, and no kit.
    assert quantities(request_of(invoice()), "InvoiceLineAdd") == [("BRKT-10", "10"), ("BOLT-M8", "250"),
                                                                   ("KIT-A", "1")]
    partial = request_of(invoice(partial_invoicing=True))
    assert quantities(partial, "InvoiceLineAdd") == [("BRKT-10", "4"), ("BOLT-M8", "250")]
    # a shipped line without a price of its own is invoiced at the sales order's price
    assert texts(partial, ".//Rate") == ["2.50", "0.012"]


def test_partial_invoicing_of_a_shipment_without_lines_is_a_mapping_error() -> None:
    shipment = examples.shipment().model_copy(update={"lines": []})
    with pytest.raises(MappingError, match=r"shipment 'SH-4001'.*shipment.lines is empty"):
        build_invoice_add(shipment, IntegrationOptions(partial_invoicing=True), context("shipment", 4001))


def test_linked_invoice_lines_name_the_sales_order_line_instead_of_the_item() -> None:
    known = LinkedTxn(LINKED_SO.txn_id, {"11": "1A2C-1773650000"})  # the bolt line's id is not known
    request = request_of(invoice(linked=known, partial_invoicing=True))
    first, second = lines(request, "InvoiceLineAdd")
    assert first.find("ItemRef") is None
    assert texts(first, "LinkToTxn/*") == [LINKED_SO.txn_id, "1A2C-1773650000"]
    assert texts(second, "ItemRef/FullName") == ["BOLT-M8"] and second.find("LinkToTxn") is None
    assert request.find(".//LinkToTxnID") is None


def test_an_invoice_cannot_link_before_qbxml_6() -> None:
    request = request_of(invoice((5, 0), linked=LINKED_SO, partial_invoicing=True))
    assert request.find(".//LinkToTxn") is None and request.find(".//LinkToTxnID") is None
    assert texts(request, ".//ItemRef/FullName") == ["BRKT-10", "BOLT-M8"]


def test_a_bill_carries_every_purchase_order_line_in_full_by_default() -> None:
    """FAQ 6: the bill carries the ordered quantities, whatever was received (25 of 40 bars here)."""
    for request in (request_of(bill()), request_of(bill(without_lines=True))):
        assert quantities(request, "ItemLineAdd") == [("BAR-20", "40"), ("PAINT-RAL", "3.5")]
        assert texts(request, ".//Cost") == ["7.20", "18.90"]
    linked = request_of(bill(linked=LINKED_PO))
    assert texts(linked, ".//LinkToTxn/TxnLineID") == ["2B3D-1773650000", "2B3E-1773650000"]


def test_partial_billing_carries_the_received_quantities_at_the_received_or_ordered_cost() -> None:
    request = request_of(bill(partial_billing=True))
    assert quantities(request, "ItemLineAdd") == [("BAR-20", "25"), ("PAINT-RAL", "3.5")]
    assert texts(request, ".//Cost") == ["7.35", "18.90"]
    with pytest.raises(MappingError, match=r"partial_billing.*receiving\.lines is empty"):
        bill(partial_billing=True, without_lines=True)


def test_a_whole_order_bill_whose_lines_are_unknown_links_the_order_and_lets_quickbooks_bring_its_lines() -> None:
    request = request_of(bill(linked=NO_LINE_IDS))
    assert texts(request, ".//LinkToTxnID") == [LINKED_PO.txn_id]
    assert lines(request, "ItemLineAdd") == []
    # a partial receiving never links the whole order: it would bill what was not received
    partial = request_of(bill(linked=NO_LINE_IDS, partial_billing=True))
    assert partial.find(".//LinkToTxnID") is None
    assert quantities(partial, "ItemLineAdd") == [("BAR-20", "25"), ("PAINT-RAL", "3.5")]


def test_lines_keep_the_order_line_order_quickbooks_requires_of_linked_lines() -> None:
    receiving = examples.receiving()
    receiving = receiving.model_copy(update={"lines": list(reversed(receiving.lines))})
    request = build_bill_add(receiving, IntegrationOptions(partial_billing=True),
                             context("receiving", 3001, linked=LINKED_PO))
    assert texts(request, ".//LinkToTxn/TxnLineID") == ["2B3D-1773650000", "2B3E-1773650000"]
    shipment = examples.shipment()
    stray = shipment.lines[0].model_copy(update={"order_line_id": None, "product": examples.sales_order().lines[2]
                                                 .product})
    shipment = shipment.model_copy(update={"lines": [stray, *reversed(shipment.lines)]})
    invoiced = build_invoice_add(shipment, IntegrationOptions(partial_invoicing=True),
                                 context("shipment", 4001, linked=LINKED_SO))
    assert quantities(invoiced, "InvoiceLineAdd") == [("1A2C-1773650000", "4"), ("1A2D-1773650000", "250"),
                                                      ("KIT-A", "4")]


def test_a_bill_before_qbxml_4_does_not_link() -> None:
    request = request_of(bill((3, 0), linked=LINKED_PO, partial_billing=True))
    assert request.find(".//LinkToTxn") is None and request.find(".//LinkToTxnID") is None


def test_item_add_posts_to_the_income_account_and_needs_one() -> None:
    assert texts(request_of(item_add("list_id")), ".//AccountRef/ListID") == ["80000005-1773650000"]
    assert texts(request_of(item_add("full_name")), ".//AccountRef/FullName") == ["Sales:Hardware"]
    with pytest.raises(MappingError, match=r"product 'BAR-20'.*item_income_account"):
        build_item_add(examples.purchase_order().lines[0].product, IntegrationOptions())


# ---- reconciliation ---------------------------------------------------------------------------------------


def ret(txn_id: str, memo: str | None = None, guid: str | None = None, line_ids_: tuple[str, ...] = ()) -> Any:
    element = etree.Element("SalesOrderRet")
    etree.SubElement(element, "TxnID").text = txn_id
    if memo is not None:
        etree.SubElement(element, "Memo").text = memo
    if guid is not None:
        etree.SubElement(element, "ExternalGUID").text = guid
    for line_id in line_ids_:
        line = etree.SubElement(element, "SalesOrderLineRet")
        etree.SubElement(line, "TxnLineID").text = line_id
    return element


def test_find_ours_by_external_guid_first_then_by_the_memo_marker() -> None:
    ctx = context("sales_order", 1001)
    assert ctx.external_guid is not None
    copied_memo = ret("1", memo=f"copied [{ctx.marker}]")
    by_guid = ret("2", memo="edited in QuickBooks", guid=ctx.external_guid.lower())
    assert find_ours([copied_memo, by_guid], ctx) is by_guid
    at_8 = context("sales_order", 1001, (8, 0))
    assert find_ours([ret("3", memo="other"), copied_memo], at_8) is copied_memo
    assert find_ours([ret("4", memo="[fusion:sales_order:10011]")], at_8) is None  # another entity's marker


def test_line_ids_pair_the_nth_quickbooks_line_with_the_nth_fusion_line() -> None:
    order = examples.sales_order()
    found = ret("9", line_ids_=("L1", "L2", "L3"))
    assert line_ids(found, order.lines) == {"11": "L1", "12": "L2", "13": "L3"}
    without_id = [order.lines[0], order.lines[1].model_copy(update={"id": None}), order.lines[2]]
    assert line_ids(found, without_id) == {"11": "L1", "13": "L3"}
    # a line was deleted in QuickBooks: positions no longer pair, so nothing is paired
    assert line_ids(ret("9", line_ids_=("L1", "L3")), order.lines) == {}


def test_a_ref_number_lookup_asks_for_what_quickbooks_kept_of_a_long_code() -> None:
    order = examples.sales_order().model_copy(update={"code": "SO-2026-000123"})
    query = build_sales_order_lookup(order, IntegrationOptions(**FUSION_CODE), context("sales_order", 1001),
                                     MODIFIED_SINCE)
    assert texts(query, "RefNumber") == ["SO-2026-000"]


# ---- against the simulated QuickBooks company ---------------------------------------------------------------


def run(company: QuickBooksCompany, element: etree._Element) -> etree._Element:
    """Send one request; its response element, which must have succeeded."""
    answer = etree.fromstring(company.process(build_message_set([Request("1", element)], V13)).encode())
    response = answer.find("QBXMLMsgsRs")[0]  # type: ignore[index]
    assert response.get("statusCode") in ("0", "1"), response.get("statusMessage")
    return response


def test_orders_found_again_and_invoiced_by_linked_lines_close_in_quickbooks() -> None:
    company = QuickBooksCompany()
    company.add("Customer", Name="ACME")
    options = IntegrationOptions(create_missing_items=True, item_income_account="Sales", partial_invoicing=True)
    order = examples.sales_order()
    for line in order.lines:
        run(company, build_item_add(line.product, options))
    ctx = context("sales_order", 1001)
    added = run(company, build_sales_order_add(order, options, ctx)).find("SalesOrderRet")
    assert added is not None

    # the answer is lost: the lookup finds the order again, with its line ids
    found = find_ours(run(company, build_sales_order_lookup(order, options, ctx, "2000-01-01T00:00:00")), ctx)
    assert found is not None and found.findtext("TxnID") == added.findtext("TxnID")
    ids = line_ids(found, order.lines)
    assert ids == line_ids(added, order.lines)

    linked = LinkedTxn(added.findtext("TxnID") or "", ids)
    run(company, build_invoice_add(examples.shipment(), options, context("shipment", 4001, linked=linked)))
    rest = examples.shipment().model_copy(update={"id": 4002, "code": "SH-4002", "lines": [
        examples.shipment().lines[0].model_copy(update={"quantity": 6.0}),
        examples.shipment().lines[0].model_copy(update={"order_line_id": 13, "product": order.lines[2].product,
                                                        "quantity": 1.0}),
    ]})
    query = etree.fromstring(f"<SalesOrderQueryRq><TxnID>{linked.txn_id}</TxnID>"
                             "<IncludeLineItems>true</IncludeLineItems></SalesOrderQueryRq>")
    before = run(company, query).find("SalesOrderRet")
    assert before is not None and before.findtext("IsFullyInvoiced") == "false"
    assert texts(before, "SalesOrderLineRet/Invoiced") == ["4", "250", "0"]
    run(company, build_invoice_add(rest, options, context("shipment", 4002, linked=linked)))
    after = run(company, query).find("SalesOrderRet")
    assert after is not None and after.findtext("IsFullyInvoiced") == "true"
