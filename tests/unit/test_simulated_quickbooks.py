"""The simulated QuickBooks company answers qbXML the way QuickBooks does (no HTTP, no database)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from lxml import etree

from qbwc_service.simulate.quickbooks import (
    MessageSetFailed,
    QuickBooksCompany,
    QuickBooksParseError,
    ResponseDropped,
)
from tests.unit.conftest import Clock


def message_set(*requests: str, on_error: str = "stopOnError", version: str = "13.0") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{version}"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="{on_error}">{"".join(requests)}</QBXMLMsgsRq></QBXML>'
    )


def answers(response: str) -> list[etree._Element]:
    assert response.startswith('<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>')
    messages = etree.fromstring(response.encode()).find("QBXMLMsgsRs")
    assert messages is not None
    return list(messages)


def run(company: QuickBooksCompany, *requests: str, on_error: str = "stopOnError") -> list[etree._Element]:
    return answers(company.process(message_set(*requests, on_error=on_error)))


def status(rs: etree._Element) -> tuple[str | None, str | None]:
    return rs.get("statusCode"), rs.get("statusSeverity")


def customer_add(name: str, request_id: str = "1", parent: str | None = None) -> str:
    parent_ref = f"<ParentRef><FullName>{parent}</FullName></ParentRef>" if parent else ""
    return (f'<CustomerAddRq requestID="{request_id}"><CustomerAdd><Name>{name}</Name>{parent_ref}'
            "</CustomerAdd></CustomerAddRq>")


def sales_order_add(customer: str, item: str, request_id: str = "so", ref_number: str | None = None) -> str:
    ref = f"<RefNumber>{ref_number}</RefNumber>" if ref_number else ""
    return (
        f'<SalesOrderAddRq requestID="{request_id}"><SalesOrderAdd>'
        f"<CustomerRef><FullName>{customer}</FullName></CustomerRef><TxnDate>2024-05-01</TxnDate>{ref}"
        f"<SalesOrderLineAdd><ItemRef><FullName>{item}</FullName></ItemRef><Desc>Pulls</Desc>"
        "<Quantity>10</Quantity><Rate>3.00</Rate><Other1>LOT-A</Other1>"
        "<DataExt><OwnerID>0</OwnerID><DataExtName>Color</DataExtName><DataExtValue>Nickel</DataExtValue></DataExt>"
        "</SalesOrderLineAdd></SalesOrderAdd></SalesOrderAddRq>"
    )


@pytest.fixture
def company(clock: Clock) -> QuickBooksCompany:
    """A company with the customers, vendors, employees and items the transaction tests refer to: unlike the
    shared company, its items include a sub-item (Cabinets:Cabinet Pulls) and its employee a middle name."""
    made = QuickBooksCompany(clock=clock)
    made.add("Customer", Name="Abercrombie, Kristy")
    made.add("Customer", Name="Family Room", ParentRef="Abercrombie, Kristy")
    made.add("Vendor", Name="Patton Hardware Supplies")
    made.add("Employee", FirstName="Dan", MiddleName="T.", LastName="Miller")
    inventory = {"IncomeAccountRef": "Sales", "COGSAccountRef": "Cost of Goods Sold",
                 "AssetAccountRef": "Inventory Asset"}
    made.add("ItemInventory", Name="Cabinets", **inventory)
    made.add("ItemInventory", Name="Cabinet Pulls", ParentRef="Cabinets", PurchaseCost="1.50",
             QuantityOnHand="100", **inventory)
    made.add("ItemService", Name="Installation", SalesOrPurchase__Price="35.00",
             SalesOrPurchase__AccountRef="Services")
    made.add("ItemNonInventory", Name="Hardware Kit", SalesOrPurchase__AccountRef="Sales")
    return made


# ---- every answer is valid qbXML ------------------------------------------------------------------------


@pytest.fixture
def schema(qbxml_schema_130: etree.XMLSchema) -> etree.XMLSchema:
    return qbxml_schema_130


def assert_valid(schema: etree.XMLSchema, response: str) -> None:
    document = etree.fromstring(response.encode())
    assert schema.validate(document), str(schema.error_log)


INVOICE_ADD = (
    '<InvoiceAddRq requestID="inv"><InvoiceAdd><CustomerRef><FullName>Abercrombie, Kristy</FullName>'
    "</CustomerRef><PONumber>PO-77</PONumber><InvoiceLineAdd><ItemRef><FullName>Installation</FullName>"
    "</ItemRef><Quantity>2</Quantity><Rate>35.00</Rate></InvoiceLineAdd><InvoiceLineAdd><ItemRef><FullName>"
    "Cabinets:Cabinet Pulls</FullName></ItemRef><Quantity>4</Quantity><Rate>3.00</Rate></InvoiceLineAdd>"
    "</InvoiceAdd></InvoiceAddRq>"
)
BILL_ADD = (
    '<BillAddRq requestID="bill"><BillAdd><VendorRef><FullName>Patton Hardware Supplies</FullName></VendorRef>'
    "<RefNumber>INV-88123</RefNumber><ExpenseLineAdd><AccountRef><FullName>Freight &amp; Delivery</FullName>"
    "</AccountRef><Amount>25.00</Amount></ExpenseLineAdd><ItemLineAdd><ItemRef><FullName>Cabinets:Cabinet Pulls"
    "</FullName></ItemRef><Quantity>100</Quantity><Cost>1.50</Cost></ItemLineAdd></BillAdd></BillAddRq>"
)
TIME_TRACKING_ADD = (
    '<TimeTrackingAddRq requestID="tt"><TimeTrackingAdd><TxnDate>2024-05-03</TxnDate><EntityRef><FullName>'
    "Dan T. Miller</FullName></EntityRef><CustomerRef><FullName>Abercrombie, Kristy:Family Room</FullName>"
    "</CustomerRef><ItemServiceRef><FullName>Installation</FullName></ItemServiceRef><Duration>PT1H30M"
    "</Duration><PayrollItemWageRef><FullName>Regular Pay</FullName></PayrollItemWageRef>"
    "<BillableStatus>Billable</BillableStatus></TimeTrackingAdd></TimeTrackingAddRq>"
)
INVENTORY_ADJUSTMENT_ADD = (
    '<InventoryAdjustmentAddRq requestID="adj"><InventoryAdjustmentAdd><AccountRef><FullName>Inventory '
    "Adjustment</FullName></AccountRef><Memo>Cycle count</Memo><InventoryAdjustmentLineAdd><ItemRef>"
    "<FullName>Cabinets:Cabinet Pulls</FullName></ItemRef><QuantityAdjustment><QuantityDifference>-3"
    "</QuantityDifference></QuantityAdjustment></InventoryAdjustmentLineAdd></InventoryAdjustmentAdd>"
    "</InventoryAdjustmentAddRq>"
)

WRITES = [
    customer_add("Acme Widgets Inc", "c1"),
    customer_add("Kitchen", "c2", parent="Acme Widgets Inc"),
    '<VendorAddRq requestID="v"><VendorAdd><Name>Steel Corp</Name><CompanyName>Steel Corp</CompanyName>'
    "<VendorAddress><Addr1>1 Mill Rd</Addr1><City>Gary</City></VendorAddress><OpenBalance>0</OpenBalance>"
    "</VendorAdd></VendorAddRq>",
    '<EmployeeAddRq requestID="e"><EmployeeAdd><FirstName>Dana</FirstName><LastName>Scully</LastName>'
    "<EmployeeType>Regular</EmployeeType><HiredDate>2024-01-15</HiredDate></EmployeeAdd></EmployeeAddRq>",
    '<AccountAddRq requestID="a"><AccountAdd><Name>Scrap</Name><AccountType>Expense</AccountType>'
    "<OpenBalance>0</OpenBalance></AccountAdd></AccountAddRq>",
    '<ItemServiceAddRq requestID="is"><ItemServiceAdd><Name>Welding</Name><BarCode><BarCodeValue>1</BarCodeValue>'
    "</BarCode><SalesOrPurchase><Desc>Welding</Desc><Price>80.00</Price><AccountRef><FullName>Services"
    "</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>",
    '<ItemNonInventoryAddRq requestID="in"><ItemNonInventoryAdd><Name>Bolts</Name><ParentRef><FullName>'
    "Hardware Kit</FullName></ParentRef><SalesAndPurchase><SalesPrice>1.00</SalesPrice><IncomeAccountRef>"
    "<FullName>Sales</FullName></IncomeAccountRef><PurchaseCost>0.10</PurchaseCost><ExpenseAccountRef>"
    "<FullName>Cost of Goods Sold</FullName></ExpenseAccountRef></SalesAndPurchase></ItemNonInventoryAdd>"
    "</ItemNonInventoryAddRq>",
    '<ItemInventoryAddRq requestID="ii"><ItemInventoryAdd><Name>Hinge</Name><ParentRef><FullName>Cabinets'
    "</FullName></ParentRef><SalesPrice>4.00</SalesPrice><IncomeAccountRef><FullName>Sales</FullName>"
    "</IncomeAccountRef><PurchaseCost>2.00</PurchaseCost><COGSAccountRef><FullName>Cost of Goods Sold"
    "</FullName></COGSAccountRef><AssetAccountRef><FullName>Inventory Asset</FullName></AssetAccountRef>"
    "<QuantityOnHand>10</QuantityOnHand><InventoryDate>2024-01-01</InventoryDate></ItemInventoryAdd>"
    "</ItemInventoryAddRq>",
    sales_order_add("Abercrombie, Kristy", "Cabinets:Cabinet Pulls"),
    '<EstimateAddRq requestID="est"><EstimateAdd><CustomerRef><FullName>Abercrombie, Kristy:Family Room'
    "</FullName></CustomerRef><EstimateLineAdd><ItemRef><FullName>Installation</FullName></ItemRef>"
    "<Quantity>8</Quantity><Rate>35.00</Rate></EstimateLineAdd></EstimateAdd></EstimateAddRq>",
    '<PurchaseOrderAddRq requestID="po"><PurchaseOrderAdd><VendorRef><FullName>Patton Hardware Supplies'
    "</FullName></VendorRef><ExpectedDate>2024-05-15</ExpectedDate><PurchaseOrderLineAdd><ItemRef><FullName>"
    "Cabinets:Cabinet Pulls</FullName></ItemRef><Quantity>100</Quantity><Rate>1.50</Rate><Other1>Rush</Other1>"
    "</PurchaseOrderLineAdd></PurchaseOrderAdd></PurchaseOrderAddRq>",
    INVOICE_ADD,
    BILL_ADD,
    TIME_TRACKING_ADD,
    INVENTORY_ADJUSTMENT_ADD,
]

QUERIES = [
    '<HostQueryRq requestID="h"/>',
    '<CompanyQueryRq requestID="co"/>',
    '<PreferencesQueryRq requestID="p"/>',
    '<CustomerQueryRq requestID="q1"><OwnerID>0</OwnerID></CustomerQueryRq>',
    '<VendorQueryRq requestID="q2"/>',
    '<EmployeeQueryRq requestID="q3"/>',
    '<AccountQueryRq requestID="q4"/>',
    '<ItemQueryRq requestID="q5"/>',
    '<ItemInventoryQueryRq requestID="q6" iterator="Start"><MaxReturned>1</MaxReturned></ItemInventoryQueryRq>',
    '<SalesOrderQueryRq requestID="q7" iterator="Start"><MaxReturned>10</MaxReturned>'
    "<IncludeLineItems>true</IncludeLineItems><OwnerID>0</OwnerID></SalesOrderQueryRq>",
    '<PurchaseOrderQueryRq requestID="q8"><IncludeLineItems>true</IncludeLineItems></PurchaseOrderQueryRq>',
    '<InvoiceQueryRq requestID="q9"><IncludeLineItems>true</IncludeLineItems></InvoiceQueryRq>',
    '<BillQueryRq requestID="q10"><IncludeLineItems>true</IncludeLineItems></BillQueryRq>',
    '<CustomerQueryRq requestID="q11"><FullName>Nobody</FullName></CustomerQueryRq>',
    '<InvoiceQueryRq requestID="q12"><RefNumber>none</RefNumber></InvoiceQueryRq>',
    '<CustomerQueryRq requestID="q13" metaData="MetaDataOnly"/>',
    '<EstimateQueryRq requestID="q14"><IncludeLineItems>true</IncludeLineItems></EstimateQueryRq>',
    '<CheckQueryRq requestID="q15"/>',
]


def test_hcp_response_is_valid_qbxml(schema: etree.XMLSchema, company: QuickBooksCompany) -> None:
    assert_valid(schema, company.hcp_response())


def test_every_add_answer_is_valid_qbxml(schema: etree.XMLSchema, company: QuickBooksCompany) -> None:
    assert_valid(schema, message_set(*WRITES))  # the requests themselves are what a client may send
    response = company.process(message_set(*WRITES))
    assert_valid(schema, response)
    assert [status(rs) for rs in answers(response)] == [("0", "Info")] * len(WRITES)


def test_every_query_answer_is_valid_qbxml(schema: etree.XMLSchema, company: QuickBooksCompany) -> None:
    company.process(message_set(*WRITES))
    assert_valid(schema, message_set(*QUERIES))
    response = company.process(message_set(*QUERIES, on_error="continueOnError"))
    assert_valid(schema, response)
    assert len(answers(response)) == len(QUERIES)


def test_error_answers_are_valid_qbxml(schema: etree.XMLSchema, company: QuickBooksCompany) -> None:
    response = company.process(message_set(
        customer_add("Abercrombie, Kristy", "dup"),
        sales_order_add("Nobody", "Cabinets:Cabinet Pulls", "bad"),
        '<JournalEntryAddRq requestID="je"><JournalEntryAdd><JournalDebitLine><AccountRef><FullName>Checking'
        "</FullName></AccountRef><Amount>1.00</Amount></JournalDebitLine></JournalEntryAdd></JournalEntryAddRq>",
        '<CustomerQueryRq requestID="it" iterator="Continue" iteratorID="{unknown}"/>',
        on_error="continueOnError",
    ))
    assert_valid(schema, response)
    assert [rs.get("statusCode") for rs in answers(response)] == ["3100", "3140", "3250", "3391"]


# ---- the strHCPResponse ---------------------------------------------------------------------------------


def test_hcp_response_carries_host_company_and_versions() -> None:
    company = QuickBooksCompany(company_name="Probe Works LLC", supported_versions=("12.0", "13.0", "2.1"))
    root = etree.fromstring(company.hcp_response().encode())
    host = root.find("QBXMLMsgsRs/HostQueryRs/HostRet")
    assert host is not None
    assert host.findtext("ProductName") == "QuickBooks Enterprise Solutions 23.0"
    assert host.findtext("MajorVersion") == "33" and host.findtext("Country") == "US"
    assert [v.text for v in host.findall("SupportedQBXMLVersion")] == ["2.1", "12.0", "13.0"]
    assert root.findtext("QBXMLMsgsRs/CompanyQueryRs/CompanyRet/CompanyName") == "Probe Works LLC"
    assert root.find("QBXMLMsgsRs/PreferencesQueryRs/PreferencesRet") is not None
    assert company.highest_version == "13.0"


def test_hcp_response_shows_the_web_connector_file_id_under_the_owner_id() -> None:
    owner = "{57F3B9B6-86F1-4FCD-B1EF-166DE1813D20}"
    company = QuickBooksCompany(owner_id=owner, file_id="{00000000-1111-2222-3333-444444444444}")
    root = etree.fromstring(company.hcp_response().encode())
    data_ext = root.findall("QBXMLMsgsRs/CompanyQueryRs/CompanyRet/DataExtRet")
    assert {(d.findtext("OwnerID"), d.findtext("DataExtName")) for d in data_ext} == {
        (owner, "AppLock"), (owner, "FileID")}
    assert "{00000000-1111-2222-3333-444444444444}" in [d.findtext("DataExtValue") for d in data_ext]


def test_default_versions_go_up_to_16() -> None:
    company = QuickBooksCompany()
    assert {"1.1", "2.1", "4.1", "13.0", "16.0"} <= set(company.supported_versions)
    assert company.highest_version == "16.0"


# ---- list adds --------------------------------------------------------------------------------------------


def test_a_customer_add_answers_ids_times_and_the_fields_sent(company: QuickBooksCompany) -> None:
    (rs,) = run(company, customer_add("Acme Widgets Inc", "cust-1"))
    assert rs.tag == "CustomerAddRs" and rs.get("requestID") == "cust-1" and status(rs) == ("0", "Info")
    ret = rs.find("CustomerRet")
    assert ret is not None
    list_id = ret.findtext("ListID") or ""
    assert list_id.startswith("8000") and list_id.endswith("-1714582800")
    assert ret.findtext("TimeCreated") == "2024-05-01T10:00:00-07:00"
    assert ret.findtext("EditSequence") == "1714582800"
    assert (ret.findtext("Name"), ret.findtext("FullName"), ret.findtext("IsActive")) == (
        "Acme Widgets Inc", "Acme Widgets Inc", "true")
    assert company.find("Customer", FullName="Acme Widgets Inc") is not None


def test_a_customer_job_is_named_after_its_parent(company: QuickBooksCompany) -> None:
    (rs,) = run(company, customer_add("Kitchen", parent="Abercrombie, Kristy"))
    assert rs.findtext("CustomerRet/FullName") == "Abercrombie, Kristy:Kitchen"
    assert rs.findtext("CustomerRet/Sublevel") == "1"
    assert rs.findtext("CustomerRet/ParentRef/FullName") == "Abercrombie, Kristy"
    # the same job name under another customer is fine
    company.add("Customer", Name="Baker, Chris")
    (again,) = run(company, customer_add("Kitchen", parent="Baker, Chris"))
    assert status(again) == ("0", "Info")


def test_names_are_unique_across_customers_vendors_and_employees(company: QuickBooksCompany) -> None:
    vendor = '<VendorAddRq requestID="v"><VendorAdd><Name>abercrombie, kristy</Name></VendorAdd></VendorAddRq>'
    employee = ('<EmployeeAddRq requestID="e"><EmployeeAdd><FirstName>Patton Hardware</FirstName>'
                "<LastName>Supplies</LastName></EmployeeAdd></EmployeeAddRq>")
    answered = run(company, customer_add("Abercrombie, Kristy"), vendor, employee, on_error="continueOnError")
    assert [status(rs) for rs in answered] == [("3100", "Error")] * 3
    assert answered[0].get("statusMessage") == 'The name "Abercrombie, Kristy" of the list element is already in use.'
    assert answered[0].find("CustomerRet") is None
    assert company.count("Customer") == 2 and company.count("Vendor") == 1 and company.count("Employee") == 1


def test_item_names_are_unique_among_items_only(company: QuickBooksCompany) -> None:
    service = ('<ItemServiceAddRq requestID="i"><ItemServiceAdd><Name>{}</Name><SalesOrPurchase><AccountRef>'
               "<FullName>Services</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>")
    duplicate, same_as_customer = run(company, service.format("Hardware Kit"),
                                      service.format("Abercrombie, Kristy"), on_error="continueOnError")
    assert duplicate.get("statusCode") == "3100" and same_as_customer.get("statusCode") == "0"
    assert company.count("Item") == 5


def test_a_name_longer_than_quickbooks_allows_is_refused(company: QuickBooksCompany) -> None:
    (rs,) = run(company, customer_add("N" * 42))
    assert rs.get("statusCode") == "3070" and company.count("Customer") == 2


# ---- transaction adds -----------------------------------------------------------------------------------


def test_a_sales_order_gets_ids_numbers_lines_and_totals(company: QuickBooksCompany) -> None:
    (rs,) = run(company, sales_order_add("Abercrombie, Kristy", "Cabinets:Cabinet Pulls"))
    ret = rs.find("SalesOrderRet")
    assert ret is not None and status(rs) == ("0", "Info")
    assert ret.findtext("TxnID", "").endswith("-1714582800") and ret.findtext("TxnNumber") == "1"
    assert ret.findtext("RefNumber") == "1"
    customer = company.find("Customer", FullName="Abercrombie, Kristy")
    assert customer is not None and ret.findtext("CustomerRef/ListID") == customer.id
    line = ret.find("SalesOrderLineRet")
    assert line is not None and line.findtext("TxnLineID")
    assert (line.findtext("Amount"), line.findtext("Other1")) == ("30.00", "LOT-A")
    assert line.findtext("DataExtRet/DataExtValue") == "Nickel"
    assert (ret.findtext("Subtotal"), ret.findtext("TotalAmount")) == ("30.00", "30.00")


def test_ref_numbers_follow_each_transaction_type_sequence(company: QuickBooksCompany) -> None:
    so = sales_order_add("Abercrombie, Kristy", "Installation", "a")
    run(company, so, sales_order_add("Abercrombie, Kristy", "Installation", "b", ref_number="41"), so)
    assert [r.text("RefNumber") for r in company.records("SalesOrder")] == ["1", "41", "42"]
    invoice = ('<InvoiceAddRq requestID="i"><InvoiceAdd><CustomerRef><FullName>Abercrombie, Kristy</FullName>'
               "</CustomerRef><InvoiceLineAdd><Desc>x</Desc><Amount>1.00</Amount></InvoiceLineAdd></InvoiceAdd>"
               "</InvoiceAddRq>")
    (rs,) = run(company, invoice)
    assert rs.findtext("InvoiceRet/RefNumber") == "1"
    assert rs.findtext("InvoiceRet/ARAccountRef/FullName") == "Accounts Receivable"


def test_time_tracking_has_no_ref_number_and_echoes_the_duration_like_quickbooks(
    company: QuickBooksCompany,
) -> None:
    (rs,) = run(company, TIME_TRACKING_ADD)
    ret = rs.find("TimeTrackingRet")
    assert ret is not None and ret.find("RefNumber") is None
    assert ret.findtext("Duration") == "PT1H30M0S"
    assert ret.findtext("EntityRef/FullName") == "Dan T. Miller"
    assert ret.findtext("PayrollItemWageRef/FullName") == "Regular Pay"


def test_invalid_references_are_refused_with_3140(company: QuickBooksCompany) -> None:
    bad_customer, bad_item, bad_by_list_id = run(
        company,
        sales_order_add("Nobody", "Cabinets:Cabinet Pulls", "1"),
        sales_order_add("Abercrombie, Kristy", "Missing Item", "2"),
        '<InvoiceAddRq requestID="3"><InvoiceAdd><CustomerRef><ListID>80000999-1714582800</ListID></CustomerRef>'
        "<InvoiceLineAdd><Desc>x</Desc><Amount>1.00</Amount></InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>",
        on_error="continueOnError",
    )
    assert [status(rs) for rs in (bad_customer, bad_item, bad_by_list_id)] == [("3140", "Error")] * 3
    assert (bad_customer.get("statusMessage") or "").startswith(
        'There is an invalid reference to QuickBooks Customer "Nobody" in the SalesOrder.')
    assert (bad_item.get("statusMessage") or "").startswith(
        'There is an invalid reference to QuickBooks Item "Missing Item" in the SalesOrder line.')
    assert '"80000999-1714582800"' in (bad_by_list_id.get("statusMessage") or "")
    assert company.count("SalesOrder") == 0 and company.count("Invoice") == 0


def test_a_bad_account_or_vendor_reference_is_refused(company: QuickBooksCompany) -> None:
    bill = ('<BillAddRq requestID="b"><BillAdd><VendorRef><FullName>{}</FullName></VendorRef><ExpenseLineAdd>'
            "<AccountRef><FullName>{}</FullName></AccountRef><Amount>5.00</Amount></ExpenseLineAdd></BillAdd>"
            "</BillAddRq>")
    no_vendor, no_account = run(company, bill.format("Nobody", "Freight &amp; Delivery"),
                                bill.format("Patton Hardware Supplies", "Nowhere"), on_error="continueOnError")
    assert "QuickBooks Vendor \"Nobody\"" in (no_vendor.get("statusMessage") or "")
    assert "QuickBooks Account \"Nowhere\" in the Bill line" in (no_account.get("statusMessage") or "")
    assert company.count("Bill") == 0


def test_inventory_adjustments_change_the_quantity_on_hand(company: QuickBooksCompany) -> None:
    adjust = ('<InventoryAdjustmentAddRq requestID="{}"><InventoryAdjustmentAdd><AccountRef><FullName>'
              "Inventory Adjustment</FullName></AccountRef><InventoryAdjustmentLineAdd><ItemRef><FullName>"
              "Cabinets:Cabinet Pulls</FullName></ItemRef><QuantityAdjustment>{}</QuantityAdjustment>"
              "</InventoryAdjustmentLineAdd></InventoryAdjustmentAdd></InventoryAdjustmentAddRq>")
    difference, new_quantity = run(
        company,
        adjust.format("d", "<QuantityDifference>-3</QuantityDifference>"),
        adjust.format("n", "<NewQuantity>120</NewQuantity>"),
    )
    assert difference.findtext("InventoryAdjustmentRet/InventoryAdjustmentLineRet/QuantityDifference") == "-3"
    assert difference.findtext("InventoryAdjustmentRet/InventoryAdjustmentLineRet/ValueDifference") == "-4.50"
    assert new_quantity.findtext("InventoryAdjustmentRet/InventoryAdjustmentLineRet/QuantityDifference") == "23"
    assert new_quantity.findtext("InventoryAdjustmentRet/RefNumber") == "2"
    assert company.quantity_on_hand("Cabinets:Cabinet Pulls") == Decimal(120)


def test_an_inventory_adjustment_of_a_service_item_is_an_invalid_reference(company: QuickBooksCompany) -> None:
    (rs,) = run(company, INVENTORY_ADJUSTMENT_ADD.replace("Cabinets:Cabinet Pulls", "Installation"))
    assert rs.get("statusCode") == "3140"
    assert company.quantity_on_hand("Cabinets:Cabinet Pulls") == Decimal(100)


def test_invoices_and_bills_move_stock(company: QuickBooksCompany) -> None:
    run(company, INVOICE_ADD, BILL_ADD)  # invoice 4 pulls, bill 100 pulls
    assert company.quantity_on_hand("Cabinets:Cabinet Pulls") == Decimal(196)


def test_sales_orders_need_premier_or_better(company: QuickBooksCompany) -> None:
    pro = QuickBooksCompany(edition="Pro", product_name="QuickBooks Pro 2024")
    pro.add("Customer", Name="Abercrombie, Kristy")
    pro.add("ItemService", Name="Installation", SalesOrPurchase__AccountRef="Services")
    (rs,) = run(pro, sales_order_add("Abercrombie, Kristy", "Installation"))
    assert rs.get("statusCode") == "3250" and pro.count("SalesOrder") == 0


# ---- queries ----------------------------------------------------------------------------------------------


def test_a_query_that_matches_nothing_answers_status_1(company: QuickBooksCompany) -> None:
    by_ref, by_name_filter, empty_kind = run(
        company,
        '<SalesOrderQueryRq requestID="1"><RefNumber>SO-404</RefNumber></SalesOrderQueryRq>',
        '<CustomerQueryRq requestID="2"><NameFilter><MatchCriterion>StartsWith</MatchCriterion><Name>Zz</Name>'
        "</NameFilter></CustomerQueryRq>",
        '<BillQueryRq requestID="3"/>',
    )
    for rs in (by_ref, by_name_filter, empty_kind):
        assert status(rs) == ("1", "Info")
        assert rs.get("statusMessage") == "A query request did not find a matching object in QuickBooks"
        assert len(rs) == 0


def test_asking_for_a_missing_identifier_answers_a_warning(company: QuickBooksCompany) -> None:
    (rs,) = run(company, '<CustomerQueryRq requestID="1"><FullName>Abercrombie, Kristy</FullName>'
                         "<FullName>Gone Co</FullName></CustomerQueryRq>")
    assert status(rs) == ("500", "Warn") and '("Gone Co")' in (rs.get("statusMessage") or "")
    assert [r.findtext("Name") for r in rs] == ["Abercrombie, Kristy"]


def test_queries_find_by_id_name_and_ref_number(company: QuickBooksCompany) -> None:
    run(company, sales_order_add("Abercrombie, Kristy", "Installation", ref_number="SO-7"))
    order = company.find("SalesOrder", RefNumber="SO-7")
    customer = company.find("Customer", FullName="Abercrombie, Kristy:Family Room")
    assert order is not None and customer is not None
    by_txn_id, by_ref, by_list_id, by_name, every_item = run(
        company,
        f'<SalesOrderQueryRq requestID="1"><TxnID>{order.id}</TxnID></SalesOrderQueryRq>',
        '<SalesOrderQueryRq requestID="2"><RefNumber>so-7</RefNumber><IncludeLineItems>true</IncludeLineItems>'
        "</SalesOrderQueryRq>",
        f'<CustomerQueryRq requestID="3"><ListID>{customer.id}</ListID></CustomerQueryRq>',
        '<ItemQueryRq requestID="4"><FullName>Cabinets:Cabinet Pulls</FullName></ItemQueryRq>',
        '<ItemQueryRq requestID="5"/>',
    )
    assert by_txn_id.findtext("SalesOrderRet/RefNumber") == "SO-7"
    assert by_txn_id.find("SalesOrderRet/SalesOrderLineRet") is None  # IncludeLineItems defaults to false
    assert by_ref.find("SalesOrderRet/SalesOrderLineRet") is not None
    assert by_list_id.findtext("CustomerRet/FullName") == "Abercrombie, Kristy:Family Room"
    assert [r.tag for r in by_name] == ["ItemInventoryRet"]
    assert [r.tag for r in every_item] == ["ItemInventoryRet", "ItemInventoryRet", "ItemServiceRet",
                                           "ItemNonInventoryRet"]


def test_modified_date_filters_use_quickbooks_local_time(company: QuickBooksCompany, clock: Clock) -> None:
    run(company, sales_order_add("Abercrombie, Kristy", "Installation", "early"))
    clock.now += timedelta(days=2)
    run(company, sales_order_add("Abercrombie, Kristy", "Installation", "late"))
    (since,) = run(company, '<SalesOrderQueryRq requestID="q"><ModifiedDateRangeFilter><FromModifiedDate>'
                            "2024-05-02T00:00:00-07:00</FromModifiedDate></ModifiedDateRangeFilter>"
                            "</SalesOrderQueryRq>")
    assert [r.findtext("RefNumber") for r in since] == ["2"]
    (customers,) = run(company, '<CustomerQueryRq requestID="c"><FromModifiedDate>2024-05-01T09:59:59-07:00'
                                "</FromModifiedDate><ToModifiedDate>2024-05-01T17:00:01+00:00</ToModifiedDate>"
                                "</CustomerQueryRq>")
    assert [c.findtext("Name") for c in customers] == ["Abercrombie, Kristy", "Family Room"]


def test_iterators_return_every_customer_once(company: QuickBooksCompany) -> None:
    for number in range(250):
        company.add("Customer", Name=f"Customer {number:03d}")
    start = '<CustomerQueryRq requestID="s" iterator="Start"><MaxReturned>100</MaxReturned></CustomerQueryRq>'
    (first,) = run(company, start)
    iterator_id = first.get("iteratorID") or ""
    assert iterator_id.startswith("{") and first.get("iteratorRemainingCount") == "152"
    seen = [r.findtext("ListID") for r in first]
    remaining = ["52", "0"]
    for expected in remaining:
        (page,) = run(company, f'<CustomerQueryRq requestID="c" iterator="Continue" iteratorID="{iterator_id}">'
                               "<MaxReturned>100</MaxReturned></CustomerQueryRq>")
        assert status(page) == ("0", "Info") and page.get("iteratorRemainingCount") == expected
        assert page.get("iteratorID") == iterator_id
        seen += [r.findtext("ListID") for r in page]
    assert len(seen) == 252 == len(set(seen)) == company.count("Customer")
    (finished,) = run(company, f'<CustomerQueryRq requestID="x" iterator="Continue" iteratorID="{iterator_id}">'
                               "<MaxReturned>100</MaxReturned></CustomerQueryRq>")
    assert status(finished) == ("3391", "Error")


def test_an_unknown_iterator_is_an_error(company: QuickBooksCompany) -> None:
    (rs,) = run(company, '<SalesOrderQueryRq requestID="s" iterator="Continue" iteratorID="{nope}">'
                         "<MaxReturned>10</MaxReturned></SalesOrderQueryRq>")
    assert status(rs) == ("3391", "Error") and "{nope}" in (rs.get("statusMessage") or "")


def test_transaction_queries_page_with_iterators(company: QuickBooksCompany) -> None:
    run(company, *(sales_order_add("Abercrombie, Kristy", "Installation", str(n)) for n in range(5)))
    (first,) = run(company, '<SalesOrderQueryRq requestID="s" iterator="Start"><MaxReturned>3</MaxReturned>'
                            "</SalesOrderQueryRq>")
    (rest,) = run(company, f'<SalesOrderQueryRq requestID="c" iterator="Continue" '
                           f'iteratorID="{first.get("iteratorID")}"><MaxReturned>3</MaxReturned></SalesOrderQueryRq>')
    assert [r.findtext("RefNumber") for r in [*first, *rest]] == ["1", "2", "3", "4", "5"]
    assert rest.get("iteratorRemainingCount") == "0"


def test_include_ret_element_trims_the_answer(company: QuickBooksCompany) -> None:
    request = sales_order_add("Abercrombie, Kristy", "Installation").replace(
        "</SalesOrderAdd>", "</SalesOrderAdd><IncludeRetElement>TxnID</IncludeRetElement>"
                            "<IncludeRetElement>RefNumber</IncludeRetElement>")
    (rs,) = run(company, request)
    ret = rs.find("SalesOrderRet")
    assert ret is not None and [e.tag for e in ret] == ["TxnID", "RefNumber"]


# ---- message sets -----------------------------------------------------------------------------------------


def test_stop_on_error_stops_at_the_first_error(company: QuickBooksCompany) -> None:
    answered = run(company, customer_add("First", "1"), customer_add("First", "2"), customer_add("Third", "3"))
    assert [(rs.get("requestID"), rs.get("statusCode")) for rs in answered] == [("1", "0"), ("2", "3100")]
    assert company.find("Customer", Name="Third") is None


def test_continue_on_error_goes_on(company: QuickBooksCompany) -> None:
    answered = run(company, customer_add("First", "1"), customer_add("First", "2"), customer_add("Third", "3"),
                   on_error="continueOnError")
    assert [(rs.get("requestID"), rs.get("statusCode")) for rs in answered] == [
        ("1", "0"), ("2", "3100"), ("3", "0")]
    assert company.find("Customer", Name="Third") is not None


def test_info_and_warnings_do_not_stop_a_set(company: QuickBooksCompany) -> None:
    answered = run(company, '<CustomerQueryRq requestID="q"><FullName>Gone</FullName></CustomerQueryRq>',
                   '<VendorQueryRq requestID="v"><NameFilter><MatchCriterion>Contains</MatchCriterion>'
                   "<Name>zzz</Name></NameFilter></VendorQueryRq>", customer_add("After", "a"))
    assert [rs.get("statusCode") for rs in answered] == ["500", "1", "0"]


def test_an_unsupported_request_gets_an_error_named_after_it(company: QuickBooksCompany) -> None:
    (rs,) = run(company, '<DepositAddRq requestID="d"><DepositAdd><DepositToAccountRef><FullName>Checking'
                         "</FullName></DepositToAccountRef></DepositAdd></DepositAddRq>")
    assert rs.tag == "DepositAddRs" and rs.get("requestID") == "d" and status(rs) == ("3250", "Error")
    assert rs.get("statusMessage") == "This feature is not enabled or not available in this version of QuickBooks."


@pytest.mark.parametrize(
    ("request_text", "why"),
    [
        ("<QBXML><QBXMLMsgsRq onError='stopOnError'><HostQueryRq>", "not well-formed"),
        ('<?xml version="1.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><HostQueryRq/></QBXMLMsgsRq></QBXML>',
         "no qbxml version"),
        (message_set("<HostQueryRq/>", version="17.0"), "unsupported version"),
        (message_set("<HostQueryRq/>", version="CA3.0"), "country-prefixed version"),
        (message_set("<HostQueryRq/>", on_error="keepGoing"), "bad onError"),
        (message_set("<CustomerAddRq><CustomerAdd><IsActive>true</IsActive></CustomerAdd></CustomerAddRq>"),
         "missing Name"),
        (message_set('<SalesOrderAddRq requestID="1"/>'), "missing SalesOrderAdd"),
        (message_set("<CustomerQueryRq><MaxReturned>lots</MaxReturned></CustomerQueryRq>"), "not a number"),
        (message_set("<NotARequest/>"), "not a request"),
        ('<?xml version="1.0"?><!DOCTYPE QBXML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
         '<?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><CustomerAddRq><CustomerAdd>'
         "<Name>&b;</Name></CustomerAdd></CustomerAddRq></QBXMLMsgsRq></QBXML>", "entities"),
    ],
)
def test_a_set_quickbooks_cannot_parse_fails_as_a_whole(
    company: QuickBooksCompany, request_text: str, why: str
) -> None:
    before = company.count("Customer")
    with pytest.raises(QuickBooksParseError) as raised:
        company.process(request_text)
    assert raised.value.hresult == "0x80040400", why
    assert raised.value.message == "QuickBooks found an error when parsing the provided XML text stream."
    assert isinstance(raised.value, MessageSetFailed)
    assert company.count("Customer") == before
    assert company.history[-1].outcome == "parse-error"


def test_a_parse_error_anywhere_applies_nothing(company: QuickBooksCompany) -> None:
    with pytest.raises(QuickBooksParseError):
        company.process(message_set(customer_add("Would Be Added"), '<InvoiceAddRq requestID="x"/>'))
    assert company.find("Customer", Name="Would Be Added") is None


# ---- fault injection --------------------------------------------------------------------------------------


def test_a_dropped_response_was_applied_and_only_the_next_one_is_dropped(company: QuickBooksCompany) -> None:
    company.drop_next_responses()
    with pytest.raises(ResponseDropped) as dropped:
        company.process(message_set(customer_add("Applied Co")))
    assert company.find("Customer", Name="Applied Co") is not None
    assert "CustomerAddRs" in dropped.value.response
    (rs,) = run(company, customer_add("Next Co"))
    assert rs.get("statusCode") == "0"
    assert [h.outcome for h in company.history] == ["dropped", "answered"]


def test_an_injected_hresult_fails_sets_without_applying_them(company: QuickBooksCompany) -> None:
    company.fail_next_with_hresult("0x80040408", "Could not start QuickBooks.", n=2)
    for name in ("One", "Two"):
        with pytest.raises(MessageSetFailed) as failed:
            company.process(message_set(customer_add(name)))
        assert (failed.value.hresult, failed.value.message) == ("0x80040408", "Could not start QuickBooks.")
        assert not isinstance(failed.value, QuickBooksParseError)
    (rs,) = run(company, customer_add("Three"))
    assert rs.get("statusCode") == "0"
    assert [r.text("Name") for r in company.records("Customer")][-1:] == ["Three"]
    assert company.find("Customer", Name="One") is None


def test_a_lock_fails_the_requests_that_touch_it_then_clears(company: QuickBooksCompany) -> None:
    company.lock("Abercrombie, Kristy", requests=1)
    locked, other, retried = run(
        company,
        sales_order_add("Abercrombie, Kristy", "Installation", "1"),
        customer_add("Unrelated", "2"),
        sales_order_add("Abercrombie, Kristy", "Installation", "3"),
        on_error="continueOnError",
    )
    assert status(locked) == ("3175", "Error")
    assert other.get("statusCode") == "0" and retried.get("statusCode") == "0"
    assert company.count("SalesOrder") == 1


def test_a_kind_lock_covers_every_request_on_that_kind(company: QuickBooksCompany) -> None:
    company.lock("Customer", requests=2)
    answered = run(company, customer_add("A", "1"), '<CustomerQueryRq requestID="2"/>', customer_add("B", "3"),
                   on_error="continueOnError")
    assert [rs.get("statusCode") for rs in answered] == ["3175", "3175", "0"]


# ---- inspection -------------------------------------------------------------------------------------------


def test_inspection_counts_and_finds_records(company: QuickBooksCompany) -> None:
    run(company, sales_order_add("Abercrombie, Kristy", "Installation", ref_number="SO-1"))
    assert company.count("SalesOrder") == 1 and company.count("Item") == len(company.items) == 4
    order = company.find("SalesOrder", CustomerRef__FullName="Abercrombie, Kristy")
    assert order is not None and order.text("RefNumber") == "SO-1" and order.kind == "SalesOrder"
    assert company.find_all("Customer", Sublevel="1")[0].full_name == "Abercrombie, Kristy:Family Room"
    assert company.count("Account") >= 10
    with pytest.raises(ValueError, match="3100"):
        company.add("Vendor", Name="Patton Hardware Supplies")


def test_a_naive_clock_is_answered_with_the_local_offset() -> None:
    company = QuickBooksCompany(clock=lambda: datetime(2024, 1, 15, 8, 30, 0))
    record = company.add("Customer", Name="Local Time Co")
    created = record.text("TimeCreated") or ""
    assert created.startswith("2024-01-15T08:30:00") and created[19] in "+-"
