"""Golden files of the message sets the service emits, compared in canonical form (C14N)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree
from lxml.builder import E

from qbwc_service.qbxml.envelope import Request, build_message_set
from qbwc_service.qbxml.queries import QuerySpec, build_query
from qbwc_service.qbxml.versions import Version

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

CASES: dict[str, tuple[list[Request], Version]] = {
    "probe_13_0": ([Request("1", E.HostQueryRq()), Request("1", E.CompanyQueryRq())], (13, 0)),
    "customer_add_escaping_8_0": (
        [Request("42", E.CustomerAddRq(E.CustomerAdd(E.Name("Smith & Sons <Ltd>"), E.CompanyName("Café Ünïon"))))],
        (8, 0),
    ),
    "pull_start_sales_orders_13_0": (
        [Request("7", build_query(QuerySpec("SalesOrder", from_modified="2026-11-01T08:00:00", max_returned=100),
                                  (13, 0)))],
        (13, 0),
    ),
    "pull_continue_customers_13_0": (
        [Request("8", build_query(QuerySpec("Customer", max_returned=50), (13, 0), iterator_id="{ABC-123}"))],
        (13, 0),
    ),
    "pull_employees_no_iterator_4_0": ([Request("9", build_query(QuerySpec("Employee"), (4, 0)))], (4, 0)),
}


def canonical(text: str) -> bytes:
    body = text[text.index("<QBXML>"):]
    return etree.tostring(etree.fromstring(body.encode()), method="c14n")


@pytest.mark.parametrize("name", sorted(CASES))
def test_envelope_matches_its_golden_file(name: str) -> None:
    requests, version = CASES[name]
    text = build_message_set(requests, version)
    golden = GOLDEN / f"{name}.xml"
    if os.environ.get("QBWC_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    assert text.splitlines()[:2] == expected.splitlines()[:2]  # prolog and qbxml version, byte for byte
    assert canonical(text) == canonical(expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_envelopes_are_valid_qbxml(name: str, qbxml_schema_130: etree.XMLSchema) -> None:
    qbxml_schema_130.assertValid(etree.fromstring(canonical((GOLDEN / f"{name}.xml").read_text(encoding="utf-8"))))


@pytest.mark.parametrize("entity", ["SalesOrder", "PurchaseOrder", "Invoice", "Estimate", "Bill", "TimeTracking",
                                    "Customer", "Vendor", "Employee", "Item", "ItemInventory", "ItemNonInventory",
                                    "ItemService", "Account"])
@pytest.mark.parametrize("version", [(4, 0), (13, 0)])
def test_every_pull_query_is_valid(entity: str, version: Version, qbxml_schema_130: etree.XMLSchema) -> None:
    query = build_query(QuerySpec(entity, from_modified="2026-01-01T00:00:00"), version)
    qbxml_schema_130.assertValid(etree.fromstring(canonical(build_message_set([Request("1", query)], version))))
