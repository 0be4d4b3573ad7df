"""The simulated QuickBooks company: mods with EditSequence, custom fields, ExternalGUID, seeds and saved state."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from qbwc_service.simulate.quickbooks import (
    SEED_COMPANY,
    CompanyFileError,
    QuickBooksCompany,
    QuickBooksParseError,
)
from tests.unit.conftest import Clock
from tests.unit.test_simulated_quickbooks import (
    answers,
    message_set,
    run,
    sales_order_add,
    status,
)


@pytest.fixture
def company(company: QuickBooksCompany) -> QuickBooksCompany:
    """The shared company, and an employee and a non-inventory item to modify."""
    company.add("Employee", FirstName="Dan", LastName="Miller")
    company.add("ItemNonInventory", Name="Hardware Kit", SalesOrPurchase__AccountRef="Sales")
    return company


@pytest.fixture
def schema(qbxml_schema_130: etree.XMLSchema) -> etree.XMLSchema:
    return qbxml_schema_130


def assert_valid(schema: etree.XMLSchema, document: str) -> None:
    assert schema.validate(etree.fromstring(document.encode())), str(schema.error_log)


def ret_of(rs: etree._Element) -> etree._Element:
    (ret,) = list(rs)
    return ret


def mod(kind: str, record_id: str, edit_sequence: str, body: str, request_id: str = "m") -> str:
    id_tag = "ListID" if kind in ("Customer", "Vendor", "Employee", "Account") or kind.startswith("Item") else "TxnID"
    return (f'<{kind}ModRq requestID="{request_id}"><{kind}Mod><{id_tag}>{record_id}</{id_tag}>'
            f"<EditSequence>{edit_sequence}</EditSequence>{body}</{kind}Mod></{kind}ModRq>")


def data_ext(operation: str, name: str, target: str, value: str | None = None, owner: str = "0") -> str:
    value_element = f"<DataExtValue>{value}</DataExtValue>" if value is not None else ""
    return (f"<DataExt{operation}Rq><DataExt{operation}><OwnerID>{owner}</OwnerID><DataExtName>{name}</DataExtName>"
            f"{target}{value_element}</DataExt{operation}></DataExt{operation}Rq>")


def customer_target(name: str) -> str:
    return f"<ListDataExtType>Customer</ListDataExtType><ListObjRef><FullName>{name}</FullName></ListObjRef>"


# ---- mods ---------------------------------------------------------------------------------------------------


def test_a_customer_mod_changes_fields_and_moves_edit_sequence_and_time(
    company: QuickBooksCompany, clock: Clock, schema: etree.XMLSchema
) -> None:
    customer = company.find("Customer", FullName="Baker, Chris")
    assert customer is not None
    before = customer.text("EditSequence") or ""
    clock.now += timedelta(minutes=5)
    request = message_set(mod("Customer", customer.id, before,
                              "<CompanyName>Baker Builders</CompanyName><Phone>555-0100</Phone>"))
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    (rs,) = answers(response)
    ret = ret_of(rs)
    assert rs.tag == "CustomerModRs" and status(rs) == ("0", "Info")
    assert (ret.findtext("CompanyName"), ret.findtext("Phone")) == ("Baker Builders", "555-0100")
    assert ret.findtext("EditSequence") not in (None, before)
    assert ret.findtext("TimeModified") == "2024-05-01T10:05:00-07:00"
    assert ret.findtext("TimeCreated") == "2024-05-01T10:00:00-07:00"
    assert customer.text("CompanyName") == "Baker Builders"


def test_two_mods_in_the_same_second_still_get_different_edit_sequences(company: QuickBooksCompany) -> None:
    customer = company.find("Customer", FullName="Baker, Chris")
    assert customer is not None
    first = customer.text("EditSequence") or ""
    (rs,) = run(company, mod("Customer", customer.id, first, "<Phone>1</Phone>"))
    second = rs.findtext("CustomerRet/EditSequence") or ""
    (again,) = run(company, mod("Customer", customer.id, second, "<Phone>2</Phone>"))
    assert status(rs) == status(again) == ("0", "Info")
    assert len({first, second, again.findtext("CustomerRet/EditSequence")}) == 3


def test_a_stale_edit_sequence_answers_3200_and_changes_nothing(company: QuickBooksCompany) -> None:
    customer = company.find("Customer", FullName="Baker, Chris")
    assert customer is not None
    seen = customer.text("EditSequence") or ""
    run(company, mod("Customer", customer.id, seen, "<Phone>1</Phone>"))
    (stale,) = run(company, mod("Customer", customer.id, seen, "<Phone>2</Phone>"))
    assert status(stale) == ("3200", "Error") and len(stale) == 0
    assert stale.get("statusMessage") == f'The provided edit sequence "{seen}" is out-of-date. '
    assert customer.text("Phone") == "1"


def test_an_unknown_object_answers_3120(company: QuickBooksCompany) -> None:
    customer, order = run(
        company,
        mod("Customer", "80000999-1714582800", "1", "<Phone>1</Phone>"),
        mod("SalesOrder", "999-1714582800", "1", "<Memo>x</Memo>"),
        on_error="continueOnError",
    )
    assert status(customer) == ("3120", "Error")
    assert customer.get("statusMessage") == 'Object "80000999-1714582800" specified in the request cannot be found. '
    assert status(order) == ("3120", "Error") and '"999-1714582800"' in (order.get("statusMessage") or "")


def test_a_mod_without_edit_sequence_fails_the_whole_set(company: QuickBooksCompany) -> None:
    customer = company.find("Customer", FullName="Baker, Chris")
    assert customer is not None
    with pytest.raises(QuickBooksParseError):
        company.process(message_set(f"<CustomerModRq><CustomerMod><ListID>{customer.id}</ListID><Phone>1</Phone>"
                                    "</CustomerMod></CustomerModRq>"))


@pytest.mark.parametrize(
    ("kind", "name", "body", "check"),
    [
        ("Vendor", "Patton Hardware Supplies", "<IsActive>false</IsActive><CompanyName>Patton Co</CompanyName>",
         {"IsActive": "false", "CompanyName": "Patton Co"}),
        ("Employee", "Dan Miller", "<FirstName>Daniel</FirstName><JobTitle>Installer</JobTitle>",
         {"Name": "Daniel Miller", "JobTitle": "Installer"}),
        ("ItemService", "Installation", "<SalesOrPurchaseMod><Desc>On site</Desc><Price>40.00</Price>"
         "</SalesOrPurchaseMod>", {"SalesOrPurchase/Desc": "On site", "SalesOrPurchase/Price": "40.00",
                                   "SalesOrPurchase/AccountRef/FullName": "Services"}),
        ("ItemNonInventory", "Hardware Kit", "<ManufacturerPartNumber>HK-1</ManufacturerPartNumber>"
         "<SalesOrPurchaseMod><PricePercent>10</PricePercent></SalesOrPurchaseMod>",
         {"ManufacturerPartNumber": "HK-1", "SalesOrPurchase/PricePercent": "10"}),
        ("ItemInventory", "Cabinet Pulls", "<SalesPrice>3.25</SalesPrice><PrefVendorRef><FullName>Patton Hardware "
         "Supplies</FullName></PrefVendorRef><ReorderPoint>20</ReorderPoint>",
         {"SalesPrice": "3.25", "PrefVendorRef/FullName": "Patton Hardware Supplies", "ReorderPoint": "20",
          "QuantityOnHand": "100"}),
    ],
)
def test_list_mods(
    company: QuickBooksCompany, schema: etree.XMLSchema, kind: str, name: str, body: str, check: dict[str, str]
) -> None:
    record = company.find(kind, Name=name)
    assert record is not None
    request = message_set(mod(kind, record.id, record.text("EditSequence") or "", body))
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    (rs,) = answers(response)
    assert status(rs) == ("0", "Info"), rs.get("statusMessage")
    assert {path: ret_of(rs).findtext(path) for path in check} == check


def test_a_bad_reference_in_a_mod_is_refused(company: QuickBooksCompany) -> None:
    item = company.find("ItemInventory", Name="Cabinet Pulls")
    assert item is not None
    (rs,) = run(company, mod("ItemInventory", item.id, item.text("EditSequence") or "",
                             "<PrefVendorRef><FullName>Nobody</FullName></PrefVendorRef>"))
    assert status(rs) == ("3140", "Error") and item.text("PrefVendorRef/FullName") is None


def test_renaming_a_customer_renames_its_jobs_and_the_references_to_them(company: QuickBooksCompany) -> None:
    run(company, sales_order_add("Abercrombie, Kristy:Family Room", "Installation"))
    parent = company.find("Customer", FullName="Abercrombie, Kristy")
    assert parent is not None
    (rs,) = run(company, mod("Customer", parent.id, parent.text("EditSequence") or "", "<Name>Abercrombie, K.</Name>"))
    assert status(rs) == ("0", "Info")
    assert company.find("Customer", FullName="Abercrombie, K.:Family Room") is not None
    assert company.find("Customer", FullName="Abercrombie, Kristy:Family Room") is None
    (order,) = company.records("SalesOrder")
    assert order.text("CustomerRef/FullName") == "Abercrombie, K.:Family Room"
    (taken,) = run(company, mod("Customer", parent.id, parent.text("EditSequence") or "", "<Name>Baker, Chris</Name>"))
    assert status(taken) == ("3100", "Error")


def test_a_job_can_move_to_another_customer(company: QuickBooksCompany) -> None:
    job = company.find("Customer", FullName="Abercrombie, Kristy:Family Room")
    assert job is not None
    (rs,) = run(company, mod("Customer", job.id, job.text("EditSequence") or "",
                             "<ParentRef><FullName>Baker, Chris</FullName></ParentRef>"))
    assert rs.findtext("CustomerRet/FullName") == "Baker, Chris:Family Room"
    assert rs.findtext("CustomerRet/ParentRef/FullName") == "Baker, Chris"


def _line_ids(rs: etree._Element, ret_tag: str, line_tag: str) -> list[str]:
    return [line.findtext("TxnLineID") or "" for line in rs.iter(line_tag)]


def test_a_sales_order_mod_changes_header_and_lines(company: QuickBooksCompany, schema: etree.XMLSchema) -> None:
    (added,) = run(company, sales_order_add("Abercrombie, Kristy", "Cabinet Pulls"))
    order = ret_of(added)
    line_id = order.findtext("SalesOrderLineRet/TxnLineID")
    request = message_set(mod(
        "SalesOrder", order.findtext("TxnID") or "", order.findtext("EditSequence") or "",
        "<Memo>Rush</Memo>"
        f"<SalesOrderLineMod><TxnLineID>{line_id}</TxnLineID><Quantity>20</Quantity></SalesOrderLineMod>"
        "<SalesOrderLineMod><TxnLineID>-1</TxnLineID><ItemRef><FullName>Installation</FullName></ItemRef>"
        "<Quantity>2</Quantity><Rate>35.00</Rate></SalesOrderLineMod>",
    ))
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    ret = ret_of(answers(response)[0])
    lines = ret.findall("SalesOrderLineRet")
    assert [(line.findtext("Quantity"), line.findtext("Amount")) for line in lines] == [("20", "60.00"),
                                                                                       ("2", "70.00")]
    assert lines[0].findtext("TxnLineID") == line_id and lines[0].findtext("DataExtRet/DataExtValue") == "Nickel"
    assert (ret.findtext("Memo"), ret.findtext("TotalAmount"), ret.findtext("Subtotal")) == ("Rush", "130.00",
                                                                                            "130.00")
    pulls = company.find("ItemInventory", Name="Cabinet Pulls")
    assert pulls is not None and pulls.text("QuantityOnSalesOrder") == "20"


def test_lines_a_mod_does_not_name_are_deleted_and_a_header_mod_keeps_them(company: QuickBooksCompany) -> None:
    request = sales_order_add("Abercrombie, Kristy", "Cabinet Pulls").replace(
        "</SalesOrderAdd>", "<SalesOrderLineAdd><ItemRef><FullName>Installation</FullName></ItemRef><Quantity>1"
                            "</Quantity><Rate>35.00</Rate></SalesOrderLineAdd></SalesOrderAdd>")
    (added,) = run(company, request)
    order = ret_of(added)
    txn_id = order.findtext("TxnID") or ""
    (header_only,) = run(company, mod("SalesOrder", txn_id, order.findtext("EditSequence") or "", "<Memo>x</Memo>"))
    assert len(ret_of(header_only).findall("SalesOrderLineRet")) == 2
    second = order.findall("SalesOrderLineRet")[1].findtext("TxnLineID")
    (trimmed,) = run(company, mod("SalesOrder", txn_id, ret_of(header_only).findtext("EditSequence") or "",
                                  f"<SalesOrderLineMod><TxnLineID>{second}</TxnLineID></SalesOrderLineMod>"))
    ret = ret_of(trimmed)
    assert [line.findtext("TxnLineID") for line in ret.findall("SalesOrderLineRet")] == [second]
    assert ret.findtext("TotalAmount") == "35.00"
    pulls = company.find("ItemInventory", Name="Cabinet Pulls")
    assert pulls is not None and pulls.text("QuantityOnSalesOrder") == "0"
    (unknown,) = run(company, mod("SalesOrder", txn_id, ret.findtext("EditSequence") or "",
                                  "<SalesOrderLineMod><TxnLineID>FFF-1</TxnLineID></SalesOrderLineMod>"))
    assert status(unknown) == ("3120", "Error")


def test_invoice_and_purchase_order_mods(company: QuickBooksCompany, schema: etree.XMLSchema) -> None:
    invoice_add = (
        '<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Baker, Chris</FullName></CustomerRef><InvoiceLineAdd>'
        "<ItemRef><FullName>Cabinet Pulls</FullName></ItemRef><Quantity>4</Quantity><Rate>3.00</Rate>"
        "</InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>"
    )
    po_add = (
        '<PurchaseOrderAddRq><PurchaseOrderAdd><VendorRef><FullName>Patton Hardware Supplies</FullName></VendorRef>'
        "<PurchaseOrderLineAdd><ItemRef><FullName>Cabinet Pulls</FullName></ItemRef><Quantity>50</Quantity>"
        "<Rate>1.50</Rate></PurchaseOrderLineAdd></PurchaseOrderAdd></PurchaseOrderAddRq>"
    )
    invoice_rs, po_rs = run(company, invoice_add, po_add)
    invoice, po = ret_of(invoice_rs), ret_of(po_rs)
    assert company.quantity_on_hand("Cabinet Pulls") == Decimal(96)
    request = message_set(
        mod("Invoice", invoice.findtext("TxnID") or "", invoice.findtext("EditSequence") or "",
            "<PONumber>PO-9</PONumber><InvoiceLineMod><TxnLineID>"
            f"{invoice.findtext('InvoiceLineRet/TxnLineID')}</TxnLineID><Quantity>10</Quantity></InvoiceLineMod>"),
        mod("PurchaseOrder", po.findtext("TxnID") or "", po.findtext("EditSequence") or "",
            "<ExpectedDate>2024-06-01</ExpectedDate><PurchaseOrderLineMod><TxnLineID>"
            f"{po.findtext('PurchaseOrderLineRet/TxnLineID')}</TxnLineID><Rate>1.40</Rate></PurchaseOrderLineMod>"),
    )
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    invoice_mod, po_mod = (ret_of(rs) for rs in answers(response))
    assert (invoice_mod.findtext("PONumber"), invoice_mod.findtext("BalanceRemaining")) == ("PO-9", "30.00")
    assert (po_mod.findtext("ExpectedDate"), po_mod.findtext("TotalAmount")) == ("2024-06-01", "70.00")
    assert company.quantity_on_hand("Cabinet Pulls") == Decimal(90)


def test_mods_of_a_disabled_feature_answer_3250(company: QuickBooksCompany) -> None:
    (added,) = run(company, sales_order_add("Abercrombie, Kristy", "Installation"))
    company.disable_feature("SalesOrder")
    order = ret_of(added)
    (rs,) = run(company, mod("SalesOrder", order.findtext("TxnID") or "", order.findtext("EditSequence") or "",
                             "<Memo>x</Memo>"))
    assert status(rs) == ("3250", "Error")


# ---- custom fields -----------------------------------------------------------------------------------------------


DEF_ADD = (
    "<DataExtDefAddRq><DataExtDefAdd><OwnerID>{owner}</OwnerID><DataExtName>{name}</DataExtName>"
    "<DataExtType>{type}</DataExtType>{assign}</DataExtDefAdd></DataExtDefAddRq>"
)
PRIVATE = "{A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF}"


def test_custom_field_definitions_are_added_and_queried(company: QuickBooksCompany, schema: etree.XMLSchema) -> None:
    request = message_set(
        DEF_ADD.format(owner="0", name="Job Number", type="STR255TYPE",
                       assign="<AssignToObject>Customer</AssignToObject><AssignToObject>Employee</AssignToObject>"),
        DEF_ADD.format(owner=PRIVATE, name="SyncRef", type="STR255TYPE", assign=""),
        DEF_ADD.format(owner="0", name="job number", type="STR255TYPE", assign=""),
        '<DataExtDefQueryRq requestID="public"><OwnerID>0</OwnerID></DataExtDefQueryRq>',
        '<DataExtDefQueryRq requestID="default"/>',
        f'<DataExtDefQueryRq requestID="private"><OwnerID>{PRIVATE}</OwnerID></DataExtDefQueryRq>',
        '<DataExtDefQueryRq requestID="vendors"><AssignToObject>Vendor</AssignToObject></DataExtDefQueryRq>',
        on_error="continueOnError",
    )
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    added, private, duplicate, public, default, by_owner, vendors = answers(response)
    assert added.findtext("DataExtDefRet/DataExtName") == "Job Number"
    assert [e.text for e in added.iter("AssignToObject")] == ["Customer", "Employee"]
    assert private.findtext("DataExtDefRet/OwnerID") == PRIVATE
    assert status(duplicate) == ("3100", "Error")
    assert [r.findtext("DataExtName") for r in public] == ["Job Number"]
    assert [r.findtext("DataExtName") for r in default] == ["Job Number"]  # private fields stay private
    assert [r.findtext("DataExtName") for r in by_owner] == ["SyncRef"]
    assert status(vendors) == ("1", "Info")


def test_a_custom_field_value_shows_in_queries_that_ask_for_its_owner(
    company: QuickBooksCompany, clock: Clock, schema: etree.XMLSchema
) -> None:
    company.define_custom_field("Job Number", assign_to=["Customer"])
    clock.now += timedelta(hours=1)
    request = message_set(
        data_ext("Add", "Job Number", customer_target("Baker, Chris"), "J-4411"),
        '<CustomerQueryRq requestID="plain"><FullName>Baker, Chris</FullName></CustomerQueryRq>',
        '<CustomerQueryRq requestID="owned"><FullName>Baker, Chris</FullName><OwnerID>0</OwnerID></CustomerQueryRq>',
        '<CustomerQueryRq requestID="since"><FromModifiedDate>2024-05-01T10:30:00-07:00</FromModifiedDate>'
        "</CustomerQueryRq>",
    )
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    added, plain, owned, since = answers(response)
    assert [(e.tag, e.text) for e in ret_of(added)] == [
        ("OwnerID", "0"), ("DataExtName", "Job Number"), ("DataExtType", "STR255TYPE"), ("DataExtValue", "J-4411")]
    assert plain.find("CustomerRet/DataExtRet") is None
    assert owned.findtext("CustomerRet/DataExtRet/DataExtValue") == "J-4411"
    assert [r.findtext("Name") for r in since] == ["Baker, Chris"]  # a new value modifies the customer


def test_custom_field_value_errors(company: QuickBooksCompany) -> None:
    company.define_custom_field("Job Number", assign_to=["Customer"])
    answered = run(
        company,
        data_ext("Add", "Undefined", customer_target("Baker, Chris"), "x"),
        data_ext("Add", "Job Number", customer_target("Nobody"), "x"),
        data_ext("Add", "Job Number", "<ListDataExtType>Vendor</ListDataExtType><ListObjRef><FullName>Patton "
                                      "Hardware Supplies</FullName></ListObjRef>", "x"),
        data_ext("Add", "Job Number", customer_target("Baker, Chris"), "J-1"),
        data_ext("Add", "Job Number", customer_target("Baker, Chris"), "J-2"),
        data_ext("Del", "Job Number", customer_target("Abercrombie, Kristy")),
        on_error="continueOnError",
    )
    assert [rs.get("statusCode") for rs in answered] == ["3120", "3120", "3120", "0", "3180", "3120"]
    assert answered[0].get("statusMessage") == 'Object "Undefined" specified in the request cannot be found. '
    second_add = answered[4].get("statusMessage", "")
    assert '"Job Number"' in second_add and "DataExtMod" in second_add
    baker = company.find("Customer", FullName="Baker, Chris")
    assert baker is not None and baker.text("DataExtRet/DataExtValue") == "J-1"


def test_custom_field_values_are_changed_and_deleted(company: QuickBooksCompany, schema: etree.XMLSchema) -> None:
    company.define_custom_field("Job Number", assign_to=["Customer"])
    request = message_set(
        data_ext("Mod", "Job Number", customer_target("Baker, Chris"), "J-1"),
        data_ext("Mod", "Job Number", customer_target("Baker, Chris"), "J-2"),
        data_ext("Del", "Job Number", customer_target("Baker, Chris")),
    )
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    first, second, deleted = answers(response)
    assert (first.findtext("DataExtRet/DataExtValue"), second.findtext("DataExtRet/DataExtValue")) == ("J-1", "J-2")
    assert deleted.findtext("DataExtDelRet/ListObjRef/FullName") == "Baker, Chris"
    assert deleted.findtext("DataExtDelRet/TimeDeleted") == "2024-05-01T10:00:00-07:00"
    baker = company.find("Customer", FullName="Baker, Chris")
    assert baker is not None and baker.element.find("DataExtRet") is None


def test_custom_fields_on_transactions_and_their_lines(company: QuickBooksCompany, schema: etree.XMLSchema) -> None:
    company.define_custom_field("SyncRef", owner_id=PRIVATE)
    company.define_custom_field("Color")
    (added,) = run(company, sales_order_add("Abercrombie, Kristy", "Cabinet Pulls"))
    txn_id = added.findtext("SalesOrderRet/TxnID")
    line_id = added.findtext("SalesOrderRet/SalesOrderLineRet/TxnLineID")
    target = f"<TxnDataExtType>SalesOrder</TxnDataExtType><TxnID>{txn_id}</TxnID>"
    request = message_set(
        data_ext("Add", "SyncRef", target, "order-9981", owner=PRIVATE),
        data_ext("Mod", "Color", target.replace("</TxnID>", f"</TxnID><TxnLineID>{line_id}</TxnLineID>"), "Brass"),
        f'<SalesOrderQueryRq requestID="q"><TxnID>{txn_id}</TxnID><IncludeLineItems>true</IncludeLineItems>'
        f"<OwnerID>{PRIVATE}</OwnerID><OwnerID>0</OwnerID></SalesOrderQueryRq>",
        '<SalesOrderQueryRq requestID="public"><IncludeLineItems>true</IncludeLineItems><OwnerID>0</OwnerID>'
        "</SalesOrderQueryRq>",
    )
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    *_, both, public = answers(response)
    assert both.findtext("SalesOrderRet/DataExtRet/DataExtValue") == "order-9981"
    assert both.findtext("SalesOrderRet/SalesOrderLineRet/DataExtRet/DataExtValue") == "Brass"
    assert public.find("SalesOrderRet/DataExtRet") is None
    assert public.findtext("SalesOrderRet/SalesOrderLineRet/DataExtRet/DataExtValue") == "Brass"


def test_an_inline_custom_field_takes_the_type_of_its_definition(company: QuickBooksCompany) -> None:
    company.define_custom_field("Color", data_type="INTTYPE")
    (refused,) = run(company, sales_order_add("Abercrombie, Kristy", "Cabinet Pulls"))
    assert status(refused) == ("3000", "Error") and company.count("SalesOrder") == 0
    (added,) = run(company, sales_order_add("Abercrombie, Kristy", "Cabinet Pulls").replace("Nickel", "7"))
    assert added.findtext("SalesOrderRet/SalesOrderLineRet/DataExtRet/DataExtType") == "INTTYPE"


def test_the_web_connector_fields_on_the_company_can_be_changed(company: QuickBooksCompany) -> None:
    owner = "{57F3B9B6-86F1-4FCD-B1EF-166DE1813D20}"
    with_owner = QuickBooksCompany(owner_id=owner)
    (rs, query) = run(with_owner, data_ext("Mod", "AppLock", "<OtherDataExtType>Company</OtherDataExtType>",
                                           "UNLOCKED", owner=owner),
                      f'<CompanyQueryRq><OwnerID>{owner}</OwnerID></CompanyQueryRq>')
    assert status(rs) == ("0", "Info")
    values = {d.findtext("DataExtName"): d.findtext("DataExtValue") for d in query.iter("DataExtRet")}
    assert values["AppLock"] == "UNLOCKED" and values["FileID"] == with_owner.file_id


# ---- ExternalGUID --------------------------------------------------------------------------------------------

GUID = "{0F0E0D0C-0B0A-4909-8807-060504030201}"


def test_external_guid_is_kept_and_answered(company: QuickBooksCompany, schema: etree.XMLSchema) -> None:
    order = ("<SalesOrderAddRq><SalesOrderAdd><CustomerRef><FullName>Baker, Chris</FullName></CustomerRef>"
             f"<RefNumber>SO-G</RefNumber><ExternalGUID>{GUID}</ExternalGUID><SalesOrderLineAdd><ItemRef><FullName>"
             "Installation</FullName></ItemRef></SalesOrderLineAdd></SalesOrderAdd></SalesOrderAddRq>")
    customer = (f"<CustomerAddRq><CustomerAdd><Name>Guid Co</Name><ExternalGUID>{GUID}</ExternalGUID></CustomerAdd>"
                "</CustomerAddRq>")
    request = message_set(
        customer, order,
        '<SalesOrderQueryRq requestID="q"><RefNumber>SO-G</RefNumber><IncludeRetElement>TxnID</IncludeRetElement>'
        "<IncludeRetElement>ExternalGUID</IncludeRetElement></SalesOrderQueryRq>",
        '<CustomerQueryRq requestID="c"><FullName>Guid Co</FullName></CustomerQueryRq>',
    )
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    customer_rs, order_rs, query, customers = answers(response)
    assert customer_rs.findtext("CustomerRet/ExternalGUID") == GUID
    assert order_rs.findtext("SalesOrderRet/ExternalGUID") == GUID
    assert [e.tag for e in ret_of(query)] == ["TxnID", "ExternalGUID"]
    assert ret_of(query).findtext("ExternalGUID") == GUID
    assert customers.findtext("CustomerRet/ExternalGUID") == GUID
    with pytest.raises(QuickBooksParseError):  # the schema's GUIDTYPE
        company.process(message_set("<CustomerAddRq><CustomerAdd><Name>G</Name><ExternalGUID>not-a-guid"
                                    "</ExternalGUID></CustomerAdd></CustomerAddRq>"))
    assert company.find("Customer", Name="G") is None


@pytest.mark.parametrize(
    ("request_body", "too_old", "new_enough"),
    [
        (f"<CustomerAddRq><CustomerAdd><Name>G</Name><ExternalGUID>{GUID}</ExternalGUID></CustomerAdd></CustomerAddRq>",
         "7.0", "8.0"),
        ("<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Baker, Chris</FullName></CustomerRef>"
         f"<ExternalGUID>{GUID}</ExternalGUID></InvoiceAdd></InvoiceAddRq>", "8.0", "9.0"),
        ('<CustomerQueryRq iterator="Start"><MaxReturned>1</MaxReturned></CustomerQueryRq>', "4.0", "5.0"),
        ("<CustomerQueryRq><IncludeRetElement>Name</IncludeRetElement></CustomerQueryRq>", "3.0", "4.0"),
    ],
)
def test_elements_newer_than_the_message_set_version_fail_the_whole_set(
    company: QuickBooksCompany, request_body: str, too_old: str, new_enough: str
) -> None:
    with pytest.raises(QuickBooksParseError):
        company.process(message_set(request_body, version=too_old))
    (rs,) = answers(company.process(message_set(request_body, version=new_enough)))
    assert status(rs) == ("0", "Info")


# ---- seeds and saved companies -------------------------------------------------------------------------------


def test_the_example_seed_is_a_small_manufacturer(schema: etree.XMLSchema) -> None:
    company = QuickBooksCompany.from_seed(SEED_COMPANY)
    assert company.company_name == "Harbor Precision Fabrication LLC"
    assert len(company.find_all("Customer", Sublevel="0")) == 12 and company.find_all("Customer", Sublevel="1")
    assert (company.count("Vendor"), company.count("Employee")) == (3, 4)
    assert company.count("Item") >= 12 and company.count("ItemService") >= 3
    assert company.quantity_on_hand("Hex Bolt M10") == Decimal(5000)
    account_types = {r.text("AccountType") for r in company.records("Account")}
    assert {"Income", "CostOfGoodsSold", "OtherCurrentAsset"} <= account_types
    assert company.find("Account", Name="Inventory Adjustment") is not None
    assert company.count("SalesOrder") >= 1 and company.count("TimeTracking") >= 1
    response = company.process(message_set(
        '<PayrollItemWageQueryRq requestID="w"/>',
        '<ItemInventoryQueryRq requestID="i"><OwnerID>0</OwnerID></ItemInventoryQueryRq>',
        '<DataExtDefQueryRq requestID="d"><OwnerID>0</OwnerID></DataExtDefQueryRq>',
    ))
    assert_valid(schema, response)
    wages, items, definitions = answers(response)
    assert {r.findtext("Name") for r in wages} >= {"Regular Pay", "Overtime Pay"}
    assert "DWG-GF-20-B" in {d.findtext("DataExtValue") for d in items.iter("DataExtRet")}
    assert {r.findtext("DataExtName") for r in definitions} == {"Drawing Number", "Region"}


def test_time_tracking_refers_to_payroll_items_the_company_has() -> None:
    company = QuickBooksCompany.from_seed()
    request = ("<TimeTrackingAddRq><TimeTrackingAdd><EntityRef><FullName>Maria Gonzalez</FullName></EntityRef>"
               "<ItemServiceRef><FullName>Welding Labor</FullName></ItemServiceRef><Duration>PT2H</Duration>"
               "<PayrollItemWageRef><FullName>{}</FullName></PayrollItemWageRef></TimeTrackingAdd></TimeTrackingAddRq>")
    known, unknown = run(company, request.format("Overtime Pay"), request.format("Hazard Pay"),
                         on_error="continueOnError")
    assert status(known) == ("0", "Info") and status(unknown) == ("3140", "Error")


def test_a_seed_dict_with_settings_that_win(clock: Clock) -> None:
    seed = {
        "company": {"company_name": "Seeded Co", "edition": "Pro"},
        "accounts": [{"Name": "Sales", "AccountType": "Income"}],
        "customers": [{"Name": "Acme", "jobs": [{"Name": "Line 1", "jobs": [{"Name": "Cell A"}]}]}],
        "items": [{"Type": "ItemService", "Name": "Labor",
                   "SalesOrPurchase": {"Price": "50.00", "AccountRef": "Sales"}}],
        "transactions": [{"Type": "Estimate", "CustomerRef": "Acme:Line 1", "TimeCreated": "2024-04-01T08:00:00-07:00",
                          "lines": [{"ItemRef": "Labor", "Quantity": 3}]}],
    }
    company = QuickBooksCompany.from_seed(seed, company_name="Override Co", clock=clock)
    assert (company.company_name, company.edition, company.count("Account")) == ("Override Co", "Pro", 1)
    assert company.find("Customer", FullName="Acme:Line 1:Cell A") is not None
    (estimate,) = company.records("Estimate")
    assert estimate.text("TotalAmount") == "150.00" and estimate.text("TimeCreated") == "2024-04-01T08:00:00-07:00"


@pytest.mark.parametrize(
    "seed",
    [
        {"customer": []},
        {"customers": [{"Name": "A"}, {"Name": "a"}]},
        {"items": [{"Name": "No type"}]},
        {"company": {"colour": "blue"}},
        {"transactions": [{"Type": "SalesOrder", "CustomerRef": "Nobody"}]},
        {"custom_fields": [{"OwnerID": "0", "DataExtName": "Color", "DataExtType": "STR255TYPE"}] * 2},
    ],
)
def test_a_bad_seed_is_a_clear_error(seed: dict[str, object]) -> None:
    with pytest.raises(CompanyFileError):
        QuickBooksCompany.from_seed(seed)


def test_a_saved_company_loads_with_everything_it_had(company: QuickBooksCompany, tmp_path: Path) -> None:
    company.define_custom_field("Job Number", assign_to=["Customer"])
    run(company, data_ext("Add", "Job Number", customer_target("Baker, Chris"), "J-7"),
        sales_order_add("Abercrombie, Kristy", "Cabinet Pulls", ref_number="41"))
    (order,) = company.records("SalesOrder")
    run(company, f"<TxnDelRq><TxnDelType>SalesOrder</TxnDelType><TxnID>{order.id}</TxnID></TxnDelRq>",
        sales_order_add("Abercrombie, Kristy", "Cabinet Pulls"))
    path = tmp_path / "company.json"
    company.save(path)
    assert json.loads(path.read_text())["format"] == "simulated-quickbooks-company"

    restored = QuickBooksCompany()
    restored.load(path)
    assert restored.count("Customer") == company.count("Customer") and restored.count("SalesOrder") == 1
    assert restored.quantity_on_hand("Cabinet Pulls") == Decimal(100)
    pulls = restored.find("ItemInventory", Name="Cabinet Pulls")
    assert pulls is not None and pulls.text("QuantityOnSalesOrder") == "10"
    (customer, order_rs, deleted, definitions) = run(
        restored, '<CustomerQueryRq><FullName>Baker, Chris</FullName><OwnerID>0</OwnerID></CustomerQueryRq>',
        sales_order_add("Abercrombie, Kristy", "Cabinet Pulls"),
        "<TxnDeletedQueryRq><TxnDelType>SalesOrder</TxnDelType></TxnDeletedQueryRq>",
        "<DataExtDefQueryRq><OwnerID>0</OwnerID></DataExtDefQueryRq>")
    assert customer.findtext("CustomerRet/DataExtRet/DataExtValue") == "J-7"
    assert order_rs.findtext("SalesOrderRet/RefNumber") == "43"  # numbering goes on where it was
    assert order_rs.findtext("SalesOrderRet/TxnID") not in {r.id for r in company.records("SalesOrder")}
    assert deleted.findtext("TxnDeletedRet/TxnID") == order.id
    assert definitions.findtext("DataExtDefRet/DataExtName") == "Job Number"


def test_a_state_file_makes_the_company_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "company.json"
    first = QuickBooksCompany(state_file=path, company_name="Demo Co")
    run(first, '<CustomerAddRq><CustomerAdd><Name>Survivor</Name></CustomerAdd></CustomerAddRq>')
    assert path.exists()
    second = QuickBooksCompany(state_file=path)
    assert second.company_name == "Demo Co" and second.find("Customer", Name="Survivor") is not None
    again = QuickBooksCompany.from_seed(SEED_COMPANY, state_file=path)
    assert again.find("Customer", Name="Survivor") is not None and again.count("Vendor") == 0


def test_loading_something_else_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(CompanyFileError):
        QuickBooksCompany().load(path)
    path.write_text("not json")
    with pytest.raises(CompanyFileError):
        QuickBooksCompany(state_file=path)
