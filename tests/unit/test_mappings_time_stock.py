"""Time tracking, stock and custom-field mappings: every option value has a golden message set (compared in
canonical form; ``QBWC_UPDATE_GOLDEN=1`` rewrites them), every built request is valid qbXML, and entities
that cannot be mapped are refused with a message naming the field."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import ValidationError

from mappings.common import MappingContext, Version, marker_for
from mappings.custom_fields import (
    TxnDataExtType,
    build_data_ext_adds,
    build_data_ext_defs,
    build_data_ext_mod,
    custom_field_values,
)
from mappings.errors import MappingError
from mappings.options import CustomFieldPair, IntegrationOptions, TimeSource
from mappings.stock import build_inventory_adjustment_add, include_in_stock_sync, stock_item_name
from mappings.time_tracking import (
    BILLABLE_STATUS_SINCE,
    build_customer_job_add,
    build_employee_add,
    build_time_tracking_add,
    customer_job_full_name,
    customer_job_parent,
    employee_full_name,
    split_employee_name,
    time_source_value,
)
from qbwc_service.fusion.models import (
    ProductionOrder,
    PurchaseOrder,
    Receiving,
    SalesOrder,
    Shipment,
    StockLevel,
    TimeRecord,
    Worker,
)
from qbwc_service.qbxml.envelope import Request, build_message_set
from qbwc_service.qbxml.schema import RequestValidator

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "mappings"
SYNC_DATE = date(2026, 3, 14)
SOURCES: tuple[TimeSource, ...] = (
    "production_order_code", "production_order_description", "operation_name", "section_name",
)

# --- Fusion entities, as the Fusion Operations API gives them -------------------------------------------------

RECORD_JSON: dict[str, Any] = {
    "id": 501,
    "operator": {"id": 7, "number": "W-07", "name": "Alice Martin"},
    "operation": {"id": 3, "code": "OP-CUT", "name": "Laser cutting"},
    "section": {"id": 2, "code": "S-MACH", "name": "Machining"},
    "startTime": "2026-03-12T08:15:00",
    "endTime": "2026-03-12T10:45:30",
    "notes": "Batch 4 of 6",
}
ORDER_JSON: dict[str, Any] = {
    "id": 9001,
    "code": "WO-2026-0042",
    "description": "Brackets for Acme",
    "timeRecords": [RECORD_JSON],
}
ORDER = ProductionOrder.model_validate(ORDER_JSON)
RECORD = ORDER.time_records[0]
CLIENT_JSON: dict[str, Any] = {
    "id": 501, "code": "ACME", "name": "Acme Corporation",
    "market": {"id": 7, "name": "Acme Retail", "customFields": {"QuickBooks customer": "Retail Customers"}},
}
CLIENT_ORDER = ProductionOrder.model_validate({**ORDER_JSON, "client": CLIENT_JSON})

PRODUCT_JSON: dict[str, Any] = {
    "id": 77,
    "code": "BRK-100",
    "name": "Steel bracket 100 mm",
    "labels": ["Hardware", "quickbooks"],
    "customFields": {"QuickBooks item": "Hardware:Bracket 100", "Bin": "A-12"},
}
SALES_ORDER_JSON: dict[str, Any] = {
    "id": 3001,
    "code": "SO-3001",
    "client": {"code": "ACME", "name": "Acme Corp"},
    "status": "OPEN",
    "lines": [{"product": PRODUCT_JSON, "quantity": 10, "unitPrice": 4.5}],
    "customFields": {"Project": "Bridge 7", "Priority": 2, "Rush": True, "Empty": "", "Null": None},
}
PURCHASE_ORDER_JSON: dict[str, Any] = {
    "id": 4001,
    "code": "PO-4001",
    "supplier": {"code": "STEELCO", "name": "Steel Co"},
    "lines": [{"product": PRODUCT_JSON, "quantity": 100, "unitCost": 1.25}],
    "customFields": {"Buyer": "J. Doe", "Incoterm": "FOB"},
}
SALES_ORDER = SalesOrder.model_validate(SALES_ORDER_JSON)
PURCHASE_ORDER = PurchaseOrder.model_validate(PURCHASE_ORDER_JSON)
RECEIVING = Receiving.model_validate({
    "id": 5001, "code": "RC-5001", "purchaseOrder": PURCHASE_ORDER_JSON,
    "customFields": {"Carrier": "DHL", "Dock": 3, "Inspected by": "K. Lee", "Temperature": 4.25},
})
SHIPMENT = Shipment.model_validate({
    "id": 6001, "code": "SH-6001", "salesOrder": SALES_ORDER_JSON,
    "customFields": {"tracking number": "1Z999", "Carrier": "UPS"},
})


def record(**changes: Any) -> TimeRecord:
    return TimeRecord.model_validate({**RECORD_JSON, **changes})


def order(record_json: dict[str, Any] | None = None, **changes: Any) -> ProductionOrder:
    return ProductionOrder.model_validate({**ORDER_JSON, "timeRecords": [record_json or RECORD_JSON], **changes})


def stock(**changes: Any) -> StockLevel:
    return StockLevel.model_validate({"product": PRODUCT_JSON, "quantityInStock": 25, **changes})


def options(**values: Any) -> IntegrationOptions:
    return IntegrationOptions(**values)


def stock_options(**values: Any) -> IntegrationOptions:
    return IntegrationOptions(**{"stock_sync": True, "stock_adjustment_account": "Inventory Adjustments", **values})


def context(version: Version = (13, 0), guid: bool = True, flow: str = "time_record", entity_id: int = 501
            ) -> MappingContext:
    marker, external_guid = marker_for("connection-1", flow, entity_id)
    return MappingContext(version=version, sync_date=SYNC_DATE, marker=marker,
                          external_guid=external_guid if guid else None)


def pairs(*names: tuple[str, str]) -> tuple[CustomFieldPair, ...]:
    return tuple(CustomFieldPair(qbd_field=qbd, fusion_field=fusion) for qbd, fusion in names)


# --- golden cases: name -> the requests built, and the qbXML version of their message set --------------------


@dataclass(frozen=True)
class Case:
    build: Callable[[], list[etree._Element]]
    version: Version = (13, 0)


def _time(opts: IntegrationOptions, version: Version = (13, 0), guid: bool = True,
          production_order: ProductionOrder = ORDER) -> Case:
    return Case(lambda: [build_time_tracking_add(production_order, production_order.time_records[0], opts,
                                                 context(version, guid))], version)


def _customer_job(opts: IntegrationOptions, production_order: ProductionOrder = ORDER) -> Case:
    return Case(lambda: [build_customer_job_add(production_order, production_order.time_records[0], opts)])


def _stock(level: StockLevel, opts: IntegrationOptions, version: Version = (13, 0)) -> Case:
    return Case(lambda: [build_inventory_adjustment_add(level, opts, context(version, flow="stock", entity_id=77))],
                version)


def _data_ext(entity: SalesOrder | PurchaseOrder | Receiving | Shipment, txn_type: TxnDataExtType,
              opts: IntegrationOptions) -> Case:
    return Case(lambda: build_data_ext_adds(txn_type, "1F3-1773500000", custom_field_values(entity, opts)))


CASES: dict[str, Case] = {
    **{f"time_tracking__customer_job_{source}": _time(options(time_customer_job=source)) for source in SOURCES},
    **{f"time_tracking__service_item_{source}": _time(options(time_service_item=source)) for source in SOURCES},
    **{f"time_tracking__payroll_item_{source}": _time(options(time_payroll_item=source)) for source in SOURCES},
    "time_tracking__billable_true": _time(options(billable=True)),
    "time_tracking__billable_false": _time(options(billable=False)),
    "time_tracking__customer_parent_set": _time(options(time_customer_parent="Acme Corp")),
    "time_tracking__customer_parent_unset": _time(options(time_customer_parent=None)),
    "time_tracking__customer_under_client": _time(options(time_customer_parent="Acme Corp"),
                                                  production_order=CLIENT_ORDER),
    "time_tracking__version_13_0_external_guid": _time(options(), (13, 0)),
    "time_tracking__version_13_0_no_external_guid": _time(options(), (13, 0), guid=False),
    "time_tracking__version_8_0_no_external_guid": _time(options(), (8, 0)),
    "time_tracking__version_5_0_is_billable": _time(options(billable=True), (5, 0)),
    "time_tracking__operation_code_without_name": _time(
        options(), production_order=order({**RECORD_JSON, "operation": {"id": 3, "code": "OP-CUT"}})),
    "time_tracking__no_notes": _time(options(), production_order=order({**RECORD_JSON, "notes": None})),
    "employee_add__first_and_last_name": Case(lambda: [build_employee_add(Worker(name="Alice Martin"))]),
    "employee_add__single_word": Case(lambda: [build_employee_add(Worker(name="Plato"))]),
    "employee_add__several_first_names": Case(lambda: [build_employee_add(Worker(name="Jean  Claude Van Damme"))]),
    "employee_add__long_first_names": Case(
        lambda: [build_employee_add(Worker(name="Anna Maria Magdalena Sophie Lopez"))]),
    **{f"customer_job_add__{source}": _customer_job(options(time_customer_job=source)) for source in SOURCES},
    "customer_job_add__under_parent": _customer_job(options(time_customer_parent="Acme Corp")),
    "customer_job_add__under_client": _customer_job(options(time_customer_parent="Acme Corp"), CLIENT_ORDER),
    "inventory_adjustment__memo_unset": _stock(stock(quantityOnOrders=5), stock_options()),
    "inventory_adjustment__memo_set": _stock(stock(quantityOnOrders=5), stock_options(
        stock_adjustment_memo="Stock from Fusion Operations")),
    "inventory_adjustment__custom_field_item_name": _stock(stock(quantityOnOrders=5), stock_options(
        stock_item_custom_field="QuickBooks item")),
    "inventory_adjustment__on_orders_from_sales_orders": _stock(stock(salesOrders=[
        {"status": "OPEN", "quantityOrdered": 10, "quantityShipped": 4},  # 6 unshipped
        {"status": "CLOSED", "quantityOrdered": 3},  # 3
        {"status": "ARCHIVED", "quantityOrdered": 50},  # archived: not counted
        {"status": "OPEN", "fulfillable": False, "quantityOrdered": 7},  # not fulfillable: not counted
        {"status": "OPEN", "asnSent": True, "quantityOrdered": 8},  # ASN sent: not counted
        {"status": "OPEN", "quantityOrdered": 2, "quantityShipped": 5},  # over-shipped: nothing held
    ]), stock_options()),
    "inventory_adjustment__on_orders_given": _stock(stock(
        quantityInStock=12.25, quantityOnOrders=4.5,
        salesOrders=[{"status": "OPEN", "quantityOrdered": 100}],  # the given quantity wins
    ), stock_options()),
    "inventory_adjustment__more_on_orders_than_in_stock": _stock(stock(quantityInStock=3, quantityOnOrders=5),
                                                                 stock_options()),
    "inventory_adjustment__version_8_0_no_external_guid": _stock(stock(quantityOnOrders=5), stock_options(),
                                                                (8, 0)),
    "data_ext__sales_order_no_pairs": _data_ext(SALES_ORDER, "SalesOrder", options(entity_code_field="Fusion code")),
    "data_ext__purchase_order_one_pair": _data_ext(PURCHASE_ORDER, "PurchaseOrder", options(
        entity_code_field="Fusion code", custom_fields=pairs(("Buyer", "Buyer")))),
    "data_ext__bill_three_pairs": _data_ext(RECEIVING, "Bill", options(
        entity_code_field="Fusion code",
        custom_fields=pairs(("Carrier", "Carrier"), ("Dock", "Dock"), ("Inspector", "Inspected by")))),
    "data_ext__invoice_case_sensitive_miss": _data_ext(SHIPMENT, "Invoice", options(
        entity_code_field="Fusion code",
        custom_fields=pairs(("Tracking", "Tracking number"), ("Carrier", "Carrier")))),
    "data_ext__sales_order_values_stringified": _data_ext(SALES_ORDER, "SalesOrder", options(
        entity_code_field="Fusion code",
        custom_fields=pairs(("Priority", "Priority"), ("Rush", "Rush"), ("Project", "Project")))),
    "data_ext__mod": Case(lambda: [build_data_ext_mod("Invoice", "1F3-1773500000", "Carrier", "FedEx")]),
    "data_ext__defs": Case(lambda: build_data_ext_defs(
        ["Fusion code", "Carrier", "Fusion code"], ["SalesOrder", "Invoice", "Bill", "PurchaseOrder", "Invoice"])),
}


def message_set(name: str) -> str:
    case = CASES[name]
    requests = [Request(str(number), element) for number, element in enumerate(case.build(), start=1)]
    return build_message_set(requests, case.version)


def canonical(text: str) -> bytes:
    body = text[text.index("<QBXML>"):]
    return etree.tostring(etree.fromstring(body.encode()), method="c14n")


@pytest.mark.parametrize("name", sorted(CASES))
def test_request_matches_its_golden_file(name: str) -> None:
    text = message_set(name)
    golden = GOLDEN / f"{name}.xml"
    if os.environ.get("QBWC_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    assert text.splitlines()[:2] == expected.splitlines()[:2]  # prolog and qbxml version, byte for byte
    assert canonical(text) == canonical(expected)


def test_every_golden_file_of_these_mappings_has_a_case() -> None:
    prefixes = {name.partition("__")[0] for name in CASES}
    ours = [path.stem for path in GOLDEN.glob("*__*.xml") if path.stem.partition("__")[0] in prefixes]
    assert sorted(stem for stem in ours if stem not in CASES) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_request_is_valid_qbxml_for_its_version(name: str, schema_gate: RequestValidator) -> None:
    # Judged as the service judges it before sending: by the schema of the case's version (a 5.0 time entry's
    # IsBillable is the 13.0 schema's BillableStatus).
    case = CASES[name]
    requests = case.build()
    assert schema_gate.problems(requests, case.version) == [None] * len(requests)


@pytest.mark.parametrize("version", [(major, 0) for major in range(1, 17)])
@pytest.mark.parametrize("billable", [True, False])
def test_a_time_entry_passes_the_schema_gate_at_every_version(
    version: Version, billable: bool, schema_gate: RequestValidator
) -> None:
    request = build_time_tracking_add(ORDER, RECORD, options(billable=billable), context(version))
    assert schema_gate.problems([request], version) == [None]
    flag = "BillableStatus" if version >= BILLABLE_STATUS_SINCE else "IsBillable"
    assert request.find(f"TimeTrackingAdd/{flag}") is not None  # what is sent is what the version has


# --- time tracking ------------------------------------------------------------------------------------------


def _add(request: etree._Element) -> etree._Element:
    add = request[0]
    assert isinstance(add, etree._Element)
    return add


def test_time_entry_is_the_operator_working_the_record_duration_on_its_start_date() -> None:
    overnight = order({**RECORD_JSON, "startTime": "2026-03-12T23:30:00", "endTime": "2026-03-13T01:15:20"})
    add = _add(build_time_tracking_add(overnight, overnight.time_records[0], options(), context()))
    assert add.findtext("TxnDate") == "2026-03-12"
    assert add.findtext("Duration") == "PT1H45M20S"
    assert add.findtext("EntityRef/FullName") == "Alice Martin"


@pytest.mark.parametrize(("source", "expected"), [
    ("production_order_code", "WO-2026-0042"),
    ("production_order_description", "Brackets for Acme"),
    ("operation_name", "Laser cutting"),
    ("section_name", "Machining"),
])
def test_each_source_names_what_the_option_says(source: TimeSource, expected: str) -> None:
    assert time_source_value(ORDER, RECORD, source) == expected
    add = _add(build_time_tracking_add(ORDER, RECORD, options(
        time_customer_job=source, time_service_item=source, time_payroll_item=source), context()))
    assert add.findtext("CustomerRef/FullName") == expected
    assert add.findtext("ItemServiceRef/FullName") == expected
    assert add.findtext("PayrollItemWageRef/FullName") == expected


def test_no_payroll_item_unless_chosen() -> None:
    assert _add(build_time_tracking_add(ORDER, RECORD, options(), context())).find("PayrollItemWageRef") is None


def test_operation_without_a_name_is_named_by_its_code() -> None:
    unnamed = record(operation={"id": 3, "code": "OP-CUT"})
    assert time_source_value(ORDER, unnamed, "operation_name") == "OP-CUT"


def test_customer_job_is_under_the_parent_customer_when_one_is_set() -> None:
    assert customer_job_full_name(ORDER, RECORD, options()) == "WO-2026-0042"
    assert customer_job_full_name(ORDER, RECORD, options(time_customer_parent="Acme Corp")) == "Acme Corp:WO-2026-0042"
    created = _add(build_customer_job_add(ORDER, RECORD, options(time_customer_parent="Acme Corp")))
    assert (created.findtext("ParentRef/FullName"), created.findtext("Name")) == ("Acme Corp", "WO-2026-0042")


@pytest.mark.parametrize(("customer_name", "parent"), [
    ("customer_code", "ACME"),
    ("market_name", "Acme Retail"),
    ("market_custom_field", "Retail Customers"),
])
def test_customer_job_is_under_the_production_orders_client_named_as_on_every_flow(
    customer_name: str, parent: str
) -> None:
    opts = options(customer_name=customer_name, time_customer_parent="Acme Corp")  # the parent is the fallback
    assert customer_job_parent(CLIENT_ORDER, opts) == parent
    assert customer_job_full_name(CLIENT_ORDER, RECORD, opts) == f"{parent}:WO-2026-0042"
    entry = _add(build_time_tracking_add(CLIENT_ORDER, RECORD, opts, context()))
    assert entry.findtext("CustomerRef/FullName") == f"{parent}:WO-2026-0042"
    created = _add(build_customer_job_add(CLIENT_ORDER, RECORD, opts))
    assert (created.findtext("ParentRef/FullName"), created.findtext("Name")) == (parent, "WO-2026-0042")


def test_orders_without_a_client_fall_back_to_the_connections_parent() -> None:
    assert customer_job_parent(ORDER, options(time_customer_parent="Acme Corp")) == "Acme Corp"
    assert customer_job_parent(ORDER, options()) is None
    assert customer_job_full_name(ORDER, RECORD, options()) == "WO-2026-0042"  # a top-level job


def test_jobs_can_be_kept_under_the_connections_parent_whatever_the_client() -> None:
    opts = options(time_customer_job_under_client=False, time_customer_parent="Acme Corp")
    assert customer_job_full_name(CLIENT_ORDER, RECORD, opts) == "Acme Corp:WO-2026-0042"
    assert customer_job_full_name(CLIENT_ORDER, RECORD, options(time_customer_job_under_client=False)) == \
        "WO-2026-0042"


def test_a_client_without_a_quickbooks_customer_name_is_refused_naming_the_order_and_the_client() -> None:
    unnamed = ProductionOrder.model_validate({**ORDER_JSON, "client": {"code": "ACME"}})
    with pytest.raises(MappingError, match=r"production order WO-2026-0042: the customer its jobs sit under: "
                                           r"client 'ACME': customer_name is 'market_name'"):
        build_time_tracking_add(unnamed, RECORD, options(customer_name="market_name"), context())


@pytest.mark.parametrize(("billable", "version", "tag", "text"), [
    (True, (13, 0), "BillableStatus", "Billable"),
    (False, (13, 0), "BillableStatus", "NotBillable"),
    (True, (6, 0), "BillableStatus", "Billable"),
    (True, (5, 0), "IsBillable", "true"),
    (False, (5, 0), "IsBillable", "false"),
])
def test_billable_flag_follows_the_qbxml_version(billable: bool, version: Version, tag: str, text: str) -> None:
    add = _add(build_time_tracking_add(ORDER, RECORD, options(billable=billable), context(version)))
    assert add.findtext(tag) == text
    tags = [child.tag for child in add]
    assert tags[tags.index("Notes") + 1] == tag  # where BillableStatus goes, right after Notes


@pytest.mark.parametrize(("version", "guid", "expected"), [
    ((13, 0), True, True), ((9, 0), True, True), ((8, 0), True, False), ((13, 0), False, False),
])
def test_external_guid_only_when_given_and_the_version_has_it(version: Version, guid: bool, expected: bool) -> None:
    ctx = context(version, guid)
    add = _add(build_time_tracking_add(ORDER, RECORD, options(), ctx))
    assert add.findtext("ExternalGUID") == (ctx.external_guid if expected else None)


def test_notes_always_carry_the_marker_even_when_cut_to_fit() -> None:
    ctx = context()
    assert _add(build_time_tracking_add(order({**RECORD_JSON, "notes": None}), record(notes=None), options(), ctx)
                ).findtext("Notes") == f"[{ctx.marker}]"
    assert _add(build_time_tracking_add(ORDER, RECORD, options(), ctx)).findtext("Notes") == \
        f"Batch 4 of 6 [{ctx.marker}]"
    long_notes = record(notes="x" * 5000)
    notes = _add(build_time_tracking_add(ORDER, long_notes, options(), ctx)).findtext("Notes") or ""
    assert len(notes) <= 4095
    assert notes.endswith(f"[{ctx.marker}]")


@pytest.mark.parametrize(("name", "first", "last"), [
    ("Alice Martin", "Alice", "Martin"),
    ("Plato", "Plato", None),
    ("  Jean  Claude Van   Damme ", "Jean Claude Van", "Damme"),
    ("Anna Maria Magdalena Sophie Lopez", "Anna Maria Magdalena", "Sophie Lopez"),
])
def test_employee_is_created_under_the_name_time_entries_reference(name: str, first: str, last: str | None) -> None:
    worker = Worker(name=name)
    assert split_employee_name(worker) == (first, last)
    created = _add(build_employee_add(worker))
    assert (created.findtext("FirstName"), created.findtext("LastName")) == (first, last)
    composed = " ".join(part for part in (first, last) if part)
    assert employee_full_name(worker) == composed
    operator = record(operator={"id": 8, "name": name})
    assert _add(build_time_tracking_add(ORDER, operator, options(), context())).findtext("EntityRef/FullName") == \
        composed


# --- time tracking: what cannot be mapped --------------------------------------------------------------------


@pytest.mark.parametrize(("production_order", "time_record", "source", "field"), [
    (order(description=None), RECORD, "production_order_description", "description"),
    (order(description="   "), RECORD, "production_order_description", "description"),
    (ORDER, record(section=None), "section_name", "section.name"),
    (ORDER, record(section={"id": 2, "code": "S-MACH"}), "section_name", "section.name"),
    (ORDER, record(operation={"id": 3}), "operation_name", "operation.name"),
])
def test_a_missing_source_is_refused_naming_the_field(
    production_order: ProductionOrder, time_record: TimeRecord, source: TimeSource, field: str
) -> None:
    with pytest.raises(MappingError, match=rf"WO-2026-0042, time record 501: {field} is missing.*'{source}'"):
        time_source_value(production_order, time_record, source)
    with pytest.raises(MappingError, match=field):
        build_time_tracking_add(production_order, time_record, options(time_service_item=source), context())


def test_a_customer_job_quickbooks_cannot_name_is_refused() -> None:
    with pytest.raises(MappingError, match=r"customer job 'Cut: phase 2' \(from operation_name\) contains ':'"):
        customer_job_full_name(ORDER, record(operation={"name": "Cut: phase 2"}),
                               options(time_customer_job="operation_name"))
    long_description = order(description="Brackets, hinges and fasteners for the Acme bridge")
    with pytest.raises(MappingError, match=r"\(from production_order_description\) is longer than the 41 characters"):
        build_customer_job_add(long_description, RECORD, options(time_customer_job="production_order_description"))


@pytest.mark.parametrize(("name", "message"), [
    ("Maximiliano Bartholomew Fitzgerald-Montgomery", r"worker.name .* is longer than the 41 characters"),
    ("Wolfeschlegelsteinhausenberger", r"worker.name .* is one word longer than the 25 characters"),
    ("A Wolfeschlegelsteinhausenberger", r"worker.name .* cannot be split"),
])
def test_an_operator_quickbooks_cannot_name_is_refused(name: str, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        build_employee_add(Worker(id=8, name=name))
    with pytest.raises(MappingError, match=message):
        build_time_tracking_add(ORDER, record(operator={"id": 8, "name": name}), options(), context())


# --- stock ---------------------------------------------------------------------------------------------------


def _new_quantity(level: StockLevel, opts: IntegrationOptions | None = None) -> str | None:
    add = _add(build_inventory_adjustment_add(level, opts or stock_options(), context(flow="stock", entity_id=77)))
    return add.findtext("InventoryAdjustmentLineAdd/QuantityAdjustment/NewQuantity")


def test_quantity_sent_is_in_stock_less_what_sales_orders_hold() -> None:
    level = StockLevel.model_validate({"product": PRODUCT_JSON, "quantityInStock": 25, "salesOrders": [
        {"status": "OPEN", "quantityOrdered": 10, "quantityShipped": 4},
        {"status": "CLOSED", "quantityOrdered": 3},
        {"status": "ARCHIVED", "quantityOrdered": 50},
        {"status": "OPEN", "fulfillable": False, "quantityOrdered": 7},
        {"status": "OPEN", "asnSent": True, "quantityOrdered": 8},
    ]})
    assert level.on_orders() == 9
    assert _new_quantity(level) == "16"


def test_quantity_on_orders_given_by_fusion_is_used_as_is() -> None:
    assert _new_quantity(stock(quantityInStock=12.25, quantityOnOrders=4.5,
                               salesOrders=[{"status": "OPEN", "quantityOrdered": 100}])) == "7.75"


def test_more_on_orders_than_in_stock_sets_zero_not_a_negative_quantity() -> None:
    assert _new_quantity(stock(quantityInStock=3, quantityOnOrders=5)) == "0"
    assert _new_quantity(stock(quantityInStock=-2)) == "0"


def test_item_is_the_product_code_or_the_chosen_custom_field() -> None:
    assert stock_item_name(stock(), stock_options()) == "BRK-100"
    assert stock_item_name(stock(), stock_options(stock_item_custom_field="QuickBooks item")) == "Hardware:Bracket 100"
    numbered = stock(product={**PRODUCT_JSON, "customFields": {"QB number": 1001}})
    assert stock_item_name(numbered, stock_options(stock_item_custom_field="QB number")) == "1001"


@pytest.mark.parametrize("field", ["Missing", "quickbooks item"])
def test_an_absent_item_custom_field_is_refused_naming_it(field: str) -> None:
    with pytest.raises(MappingError, match=rf"product BRK-100: custom field '{field}' is missing or empty"):
        build_inventory_adjustment_add(stock(), stock_options(stock_item_custom_field=field), context())


def test_adjustment_without_an_account_is_refused() -> None:
    with pytest.raises(MappingError, match="stock_adjustment_account is not set"):
        build_inventory_adjustment_add(stock(), options(stock_adjustment_account=None), context())


def test_memo_is_the_option_text_and_the_marker() -> None:
    ctx = context(flow="stock", entity_id=77)
    plain = _add(build_inventory_adjustment_add(stock(), stock_options(), ctx))
    assert plain.findtext("Memo") == f"[{ctx.marker}]"
    assert (plain.findtext("AccountRef/FullName"), plain.findtext("TxnDate")) == ("Inventory Adjustments",
                                                                                   "2026-03-14")
    long_memo = _add(build_inventory_adjustment_add(stock(), stock_options(stock_adjustment_memo="€" * 4095), ctx))
    memo = long_memo.findtext("Memo") or ""
    assert memo.endswith(f"[{ctx.marker}]")
    assert len(memo.replace("€", "EUR")) <= 4095  # still fits once QuickBooks' Latin-1 spelling is applied


@pytest.mark.parametrize(("only_labelled", "label", "labels", "included"), [
    (False, "QuickBooks", [], True),
    (True, "QuickBooks", ["Hardware", "quickbooks"], True),
    (True, "QuickBooks", ["QUICKBOOKS"], True),
    (True, "QuickBooks", ["Hardware"], False),
    (True, "QuickBooks", [], False),
    (True, "Sync to QB", ["sync to qb"], True),
    (True, "Sync to QB", ["QuickBooks"], False),
])
def test_label_filter(only_labelled: bool, label: str, labels: list[str], included: bool) -> None:
    level = stock(product={**PRODUCT_JSON, "labels": labels})
    opts = stock_options(stock_only_quickbooks_label=only_labelled, stock_quickbooks_label=label)
    assert include_in_stock_sync(level, opts) is included


# --- custom fields -------------------------------------------------------------------------------------------


def test_entity_code_comes_first_then_the_pairs_the_entity_has() -> None:
    assert custom_field_values(SALES_ORDER, options()) == []
    assert custom_field_values(SALES_ORDER, options(entity_code_field="Fusion code")) == [("Fusion code", "SO-3001")]
    three = options(entity_code_field="Fusion code",
                    custom_fields=pairs(("Carrier", "Carrier"), ("Dock", "Dock"), ("Inspector", "Inspected by")))
    assert custom_field_values(RECEIVING, three) == [
        ("Fusion code", "RC-5001"), ("Carrier", "DHL"), ("Dock", "3"), ("Inspector", "K. Lee"),
    ]


def test_fusion_field_names_match_case_sensitively_and_absent_values_are_skipped() -> None:
    opts = options(entity_code_field="Fusion code", custom_fields=pairs(
        ("Tracking", "Tracking number"), ("Carrier", "carrier"), ("Empty", "Empty")))
    assert custom_field_values(SHIPMENT, opts) == [("Fusion code", "SH-6001")]
    nulls = options(entity_code_field="Fusion code", custom_fields=pairs(("Empty", "Empty"), ("Null", "Null")))
    assert custom_field_values(SALES_ORDER, nulls) == [("Fusion code", "SO-3001")]


def test_values_are_stored_as_text() -> None:
    opts = options(entity_code_field="Fusion code",
                   custom_fields=pairs(("Priority", "Priority"), ("Rush", "Rush"), ("Temperature", "Project")))
    assert custom_field_values(SALES_ORDER, opts)[1:] == [("Priority", "2"), ("Rush", "true"),
                                                          ("Temperature", "Bridge 7")]
    temperature = options(entity_code_field="Fusion code", custom_fields=pairs(("Temperature", "Temperature")))
    assert custom_field_values(RECEIVING, temperature)[1:] == [("Temperature", "4.25")]


def test_a_pair_writing_the_entity_code_field_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"uses 'Fusion code', which already receives the Fusion entity code"):
        options(entity_code_field="Fusion code", custom_fields=pairs(("Fusion code", "Project")))


def test_data_ext_requests_name_the_document_and_the_public_owner() -> None:
    (add,) = build_data_ext_adds("Bill", "1F3-1773500000", [("Carrier", "DHL")])
    assert [(child.tag, child.text) for child in _add(add)] == [
        ("OwnerID", "0"), ("DataExtName", "Carrier"), ("TxnDataExtType", "Bill"), ("TxnID", "1F3-1773500000"),
        ("DataExtValue", "DHL"),
    ]
    assert build_data_ext_adds("Bill", "1F3-1773500000", []) == []


def test_definitions_are_one_per_field_assigned_to_each_document_type() -> None:
    defs = build_data_ext_defs(["Fusion code", "Carrier", "Fusion code"], ["Invoice", "Bill", "Invoice"])
    assert [_add(request).findtext("DataExtName") for request in defs] == ["Fusion code", "Carrier"]
    assert [child.text for child in _add(defs[0]).iter("AssignToObject")] == ["Invoice", "Bill"]
    with pytest.raises(MappingError, match="txn_types is empty"):
        build_data_ext_defs(["Carrier"], [])


@pytest.mark.parametrize(("call", "message"), [
    (lambda: build_data_ext_adds("Invoice", " ", [("Carrier", "UPS")]), r"txn_id is empty: custom field 'Carrier'"),
    (lambda: build_data_ext_mod("Invoice", "", "Carrier", "UPS"), r"txn_id is empty: custom field 'Carrier'"),
    (lambda: build_data_ext_mod("Invoice", "1F3-1", "Carrier", ""), r"custom field 'Carrier': the value is empty"),
    (lambda: build_data_ext_adds("Invoice", "1F3-1", [("x" * 32, "UPS")]), r"must have 1 to 31 characters"),
    (lambda: build_data_ext_defs([""], ["Invoice"]), r"custom field name '' must have 1 to 31 characters"),
])
def test_data_ext_requests_that_cannot_be_built_are_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        call()
