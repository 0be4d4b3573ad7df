"""The simulated QuickBooks company under retrieve flows: bulk data, filters, links, iterators, faults, samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from lxml import etree

from qbwc_service.simulate.quickbooks import FieldValue, QuickBooksCompany, QuickBooksParseError, ResponseDropped
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.unit.conftest import PACIFIC, Clock
from tests.unit.test_simulated_quickbooks import (
    answers,
    message_set,
    run,
    sales_order_add,
    status,
)

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "qbxml" / "samples" / "official-intuit"


@pytest.fixture
def schema(qbxml_schema_130: etree.XMLSchema) -> etree.XMLSchema:
    return qbxml_schema_130


def assert_valid(schema: etree.XMLSchema, document: str) -> None:
    assert schema.validate(etree.fromstring(document.encode())), str(schema.error_log)


def orders(customer: str, count: int, prefix: str = "SO") -> list[dict[str, FieldValue]]:
    return [{"CustomerRef": customer, "RefNumber": f"{prefix}-{n:05d}",
             "lines": [{"ItemRef": "Installation", "Quantity": "2"}]} for n in range(count)]


def refs(rs: etree._Element) -> list[str]:
    return [ret.findtext("RefNumber") or "" for ret in rs]


def modified_query(kind: str, low: str | None, high: str | None, extra: str = "") -> str:
    bounds = (f"<FromModifiedDate>{low}</FromModifiedDate>" if low else "") + (
        f"<ToModifiedDate>{high}</ToModifiedDate>" if high else "")
    return f"<{kind}QueryRq><ModifiedDateRangeFilter>{bounds}</ModifiedDateRangeFilter>{extra}</{kind}QueryRq>"


# ---- bulk seeding --------------------------------------------------------------------------------------------


def test_add_many_creates_thousands_of_sales_orders(company: QuickBooksCompany) -> None:
    made = company.add_many("SalesOrder", orders("Baker, Chris", 2500))
    assert len(made) == company.count("SalesOrder") == 2500
    assert made[-1].text("SalesOrderLineRet/Amount") == "70.00"  # the item's price, as QuickBooks fills it in


def test_add_many_spacing_lets_modified_date_filters_select_subsets(
    company: QuickBooksCompany, schema: etree.XMLSchema
) -> None:
    start = datetime(2024, 6, 1, 8, 0, 0, tzinfo=PACIFIC)
    company.add_many("SalesOrder", orders("Baker, Chris", 10), start=start, spacing=timedelta(minutes=10))
    request = message_set(
        modified_query("SalesOrder", "2024-06-01T08:20:00-07:00", "2024-06-01T08:50:00-07:00"),  # inclusive
        modified_query("SalesOrder", "2024-06-01T16:30:00+00:00", None),  # 09:30 Pacific, another offset
        modified_query("SalesOrder", None, "2024-06-01T08:10:00"),  # no offset: the company's local time
        modified_query("SalesOrder", "2024-06-02T00:00:00-07:00", None),
    )
    assert_valid(schema, request)
    window, since, until, none = answers(company.process(request))
    assert refs(window) == ["SO-00002", "SO-00003", "SO-00004", "SO-00005"]
    assert refs(since) == ["SO-00009"]
    assert refs(until) == ["SO-00000", "SO-00001"]
    assert status(none) == ("1", "Info")


def test_explicit_times_in_rows_win(company: QuickBooksCompany) -> None:
    (made,) = company.add_many("Customer", [{"Name": "Old Co", "TimeCreated": "2023-01-02T03:04:05-08:00",
                                             "TimeModified": "2023-02-03T04:05:06-08:00"}])
    assert made.text("TimeCreated") == "2023-01-02T03:04:05-08:00"
    assert made.text("TimeModified") == "2023-02-03T04:05:06-08:00"
    (rs,) = run(company, "<CustomerQueryRq><ToModifiedDate>2023-12-31T00:00:00-08:00</ToModifiedDate>"
                         "</CustomerQueryRq>")
    assert [r.findtext("Name") for r in rs] == ["Old Co"]


def test_add_many_names_the_row_it_refuses(company: QuickBooksCompany) -> None:
    with pytest.raises(ValueError, match="row 1 of SalesOrder: 3140"):
        company.add_many("SalesOrder", [*orders("Baker, Chris", 1), *orders("Nobody", 1)])


# ---- query filters of retrieve flows --------------------------------------------------------------------------


def test_transaction_queries_filter_by_entity_txn_date_and_ref_number(
    company: QuickBooksCompany, schema: etree.XMLSchema
) -> None:
    company.add_many("Estimate", [
        {"CustomerRef": "Abercrombie, Kristy:Family Room", "TxnDate": "2024-04-01", "RefNumber": "E-1"},
        {"CustomerRef": "Baker, Chris", "TxnDate": "2024-04-15", "RefNumber": "E-2"},
        {"CustomerRef": "Abercrombie, Kristy", "TxnDate": "2024-05-01", "RefNumber": "E-3"},
    ])
    company.add_many("Bill", [
        {"VendorRef": "Patton Hardware Supplies", "TxnDate": "2024-04-10", "RefNumber": "V-1",
         "lines": [{"ItemRef": "Cabinet Pulls", "Quantity": "10"}]},
    ])
    company.add_many("PurchaseOrder", [{"VendorRef": "Patton Hardware Supplies", "RefNumber": "P-1",
                                        "lines": [{"ItemRef": "Cabinet Pulls", "Quantity": "10"}]}])
    request = message_set(
        "<EstimateQueryRq><EntityFilter><FullNameWithChildren>Abercrombie, Kristy</FullNameWithChildren>"
        "</EntityFilter></EstimateQueryRq>",
        "<EstimateQueryRq><TxnDateRangeFilter><FromTxnDate>2024-04-10</FromTxnDate><ToTxnDate>2024-05-01"
        "</ToTxnDate></TxnDateRangeFilter></EstimateQueryRq>",
        "<EstimateQueryRq><RefNumber>e-2</RefNumber></EstimateQueryRq>",
        "<BillQueryRq><EntityFilter><FullName>Patton Hardware Supplies</FullName></EntityFilter>"
        "<IncludeLineItems>true</IncludeLineItems></BillQueryRq>",
        "<PurchaseOrderQueryRq><RefNumber>P-1</RefNumber><IncludeLineItems>true</IncludeLineItems>"
        "</PurchaseOrderQueryRq>",
    )
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    by_entity, by_date, by_ref, bills, purchase_orders = answers(response)
    assert refs(by_entity) == ["E-1", "E-3"]
    assert refs(by_date) == ["E-2", "E-3"]
    assert refs(by_ref) == ["E-2"]
    assert bills.findtext("BillRet/ItemLineRet/Cost") == "1.50"  # the item's cost, as QuickBooks fills it in
    assert purchase_orders.findtext("PurchaseOrderRet/PurchaseOrderLineRet/Amount") == "15.00"


def test_list_queries_filter_by_modified_date_active_status_and_name(
    company: QuickBooksCompany, clock: Clock
) -> None:
    clock.now += timedelta(days=1)
    company.add("Customer", Name="Zephyr Sails", IsActive="false")
    company.add("Customer", Name="Zenith Marine")
    inactive, active, every, since, named, entities = run(
        company,
        "<CustomerQueryRq><ActiveStatus>InactiveOnly</ActiveStatus></CustomerQueryRq>",
        "<CustomerQueryRq><FromModifiedDate>2024-05-02T00:00:00-07:00</FromModifiedDate></CustomerQueryRq>",
        "<CustomerQueryRq><ActiveStatus>All</ActiveStatus><FromModifiedDate>2024-05-02T00:00:00</FromModifiedDate>"
        "</CustomerQueryRq>",
        "<ItemQueryRq><FromModifiedDate>2024-05-01T10:00:00-07:00</FromModifiedDate><ToModifiedDate>"
        "2024-05-01T10:00:00-07:00</ToModifiedDate></ItemQueryRq>",
        "<CustomerQueryRq><NameFilter><MatchCriterion>Contains</MatchCriterion><Name>family</Name></NameFilter>"
        "</CustomerQueryRq>",
        "<EntityQueryRq><NameFilter><MatchCriterion>StartsWith</MatchCriterion><Name>p</Name></NameFilter>"
        "</EntityQueryRq>",
    )
    assert [r.findtext("Name") for r in inactive] == ["Zephyr Sails"]
    assert [r.findtext("Name") for r in active] == ["Zenith Marine"]
    assert [r.findtext("Name") for r in every] == ["Zephyr Sails", "Zenith Marine"]
    assert [r.findtext("Name") for r in since] == ["Cabinet Pulls", "Installation"]
    assert [r.findtext("FullName") for r in named] == ["Abercrombie, Kristy:Family Room"]
    assert [(r.tag, r.findtext("Name")) for r in entities] == [("VendorRet", "Patton Hardware Supplies")]


def test_date_times_without_an_offset_are_the_company_s_local_time() -> None:
    kathmandu = timezone(timedelta(hours=5, minutes=45))  # unlikely to be the zone the tests run in
    company = QuickBooksCompany(clock=lambda: datetime(2024, 5, 1, 10, 0, tzinfo=kathmandu))
    company.add("Customer", Name="Everest Outfitters")
    before, after = run(company, "<CustomerQueryRq><FromModifiedDate>2024-05-01T09:59:59</FromModifiedDate>"
                                 "</CustomerQueryRq>",
                        "<CustomerQueryRq><FromModifiedDate>2024-05-01T10:00:01</FromModifiedDate>"
                        "</CustomerQueryRq>")
    assert [r.findtext("Name") for r in before] == ["Everest Outfitters"]
    assert status(after) == ("1", "Info")


def test_records_come_oldest_modified_first(company: QuickBooksCompany, clock: Clock) -> None:
    company.add_many("SalesOrder", orders("Baker, Chris", 3))
    first = company.find("SalesOrder", RefNumber="SO-00000")
    assert first is not None
    clock.now += timedelta(minutes=1)
    run(company, f"<SalesOrderModRq><SalesOrderMod><TxnID>{first.id}</TxnID><EditSequence>"
                 f"{first.text('EditSequence')}</EditSequence><Memo>later</Memo></SalesOrderMod></SalesOrderModRq>")
    (rs,) = run(company, "<SalesOrderQueryRq/>")
    assert refs(rs) == ["SO-00001", "SO-00002", "SO-00000"]


def test_an_iterator_neither_repeats_nor_skips_when_records_change_between_pages(
    company: QuickBooksCompany, clock: Clock
) -> None:
    company.add_many("SalesOrder", orders("Baker, Chris", 25), spacing=timedelta(seconds=1))
    start = ('<SalesOrderQueryRq iterator="Start"><MaxReturned>10</MaxReturned><ModifiedDateRangeFilter>'
             "<FromModifiedDate>2024-05-01T00:00:00-07:00</FromModifiedDate></ModifiedDateRangeFilter>"
             "</SalesOrderQueryRq>")
    (first,) = run(company, start)
    iterator_id = first.get("iteratorID") or ""
    seen = refs(first)
    clock.now += timedelta(hours=1)
    company.add_many("SalesOrder", orders("Baker, Chris", 5, prefix="NEW"))
    changed = company.find("SalesOrder", RefNumber="SO-00003")  # already answered, then changed
    later = company.find("SalesOrder", RefNumber="SO-00020")  # not answered yet, then changed
    assert changed is not None and later is not None
    for record in (changed, later):
        run(company, f"<SalesOrderModRq><SalesOrderMod><TxnID>{record.id}</TxnID><EditSequence>"
                     f"{record.text('EditSequence')}</EditSequence><Memo>x</Memo></SalesOrderMod></SalesOrderModRq>")
    remaining = first.get("iteratorRemainingCount")
    while remaining != "0":
        (page,) = run(company, f'<SalesOrderQueryRq iterator="Continue" iteratorID="{iterator_id}">'
                               "<MaxReturned>10</MaxReturned></SalesOrderQueryRq>")
        seen += refs(page)
        remaining = page.get("iteratorRemainingCount")
    assert seen == [f"SO-{n:05d}" for n in range(25)]


def test_invoice_lines_linked_to_a_sales_order_invoice_it(
    company: QuickBooksCompany, schema: etree.XMLSchema
) -> None:
    (added,) = run(company, sales_order_add("Abercrombie, Kristy", "Cabinet Pulls", ref_number="SO-1"))
    order = added.find("SalesOrderRet")
    assert order is not None
    txn_id, line_id = order.findtext("TxnID"), order.findtext("SalesOrderLineRet/TxnLineID")
    invoice = ("<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Abercrombie, Kristy</FullName></CustomerRef>"
               "<InvoiceLineAdd>{}<LinkToTxn><TxnID>" + f"{txn_id}</TxnID><TxnLineID>{line_id}</TxnLineID>"
               "</LinkToTxn></InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>")
    request = message_set(
        invoice.format("<Quantity>4</Quantity>"),
        f"<SalesOrderQueryRq><TxnID>{txn_id}</TxnID><IncludeLineItems>true</IncludeLineItems>"
        "<IncludeLinkedTxns>true</IncludeLinkedTxns></SalesOrderQueryRq>",
        invoice.format(""),
        f"<SalesOrderQueryRq><TxnID>{txn_id}</TxnID><IncludeLineItems>true</IncludeLineItems>"
        "<IncludeLinkedTxns>true</IncludeLinkedTxns></SalesOrderQueryRq>",
        f"<SalesOrderQueryRq><TxnID>{txn_id}</TxnID></SalesOrderQueryRq>",
        "<InvoiceQueryRq><IncludeLinkedTxns>true</IncludeLinkedTxns></InvoiceQueryRq>",
    )
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    partial, after_partial, rest, after_all, without_links, invoices = answers(response)
    line = partial.find("InvoiceRet/InvoiceLineRet")
    assert line is not None
    assert (line.findtext("ItemRef/FullName"), line.findtext("Rate"), line.findtext("Amount")) == (
        "Cabinet Pulls", "3.00", "12.00")
    assert partial.findtext("InvoiceRet/LinkedTxn/TxnID") == txn_id
    assert partial.findtext("InvoiceRet/LinkedTxn/TxnType") == "SalesOrder"
    assert after_partial.findtext("SalesOrderRet/SalesOrderLineRet/Invoiced") == "4"
    assert after_partial.findtext("SalesOrderRet/IsFullyInvoiced") == "false"
    assert rest.findtext("InvoiceRet/InvoiceLineRet/Quantity") == "6"  # what was still open
    assert after_all.findtext("SalesOrderRet/SalesOrderLineRet/Invoiced") == "10"
    assert after_all.findtext("SalesOrderRet/IsFullyInvoiced") == "true"
    assert [e.findtext("TxnType") for e in after_all.iter("LinkedTxn")] == ["Invoice", "Invoice"]
    assert without_links.find("SalesOrderRet/LinkedTxn") is None
    assert [ret.findtext("LinkedTxn/RefNumber") for ret in invoices] == ["SO-1", "SO-1"]
    pulls = company.find("ItemInventory", Name="Cabinet Pulls")
    assert pulls is not None
    assert (pulls.text("QuantityOnHand"), pulls.text("QuantityOnSalesOrder")) == ("90", "0")


def test_links_to_missing_or_foreign_sales_orders_are_refused(company: QuickBooksCompany) -> None:
    (added,) = run(company, sales_order_add("Abercrombie, Kristy", "Cabinet Pulls"))
    txn_id = added.findtext("SalesOrderRet/TxnID")
    line_id = added.findtext("SalesOrderRet/SalesOrderLineRet/TxnLineID")
    invoice = ("<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>{}</FullName></CustomerRef><InvoiceLineAdd>"
               "<LinkToTxn><TxnID>{}</TxnID><TxnLineID>{}</TxnLineID></LinkToTxn></InvoiceLineAdd></InvoiceAdd>"
               "</InvoiceAddRq>")
    missing, wrong_line, foreign = run(
        company,
        invoice.format("Abercrombie, Kristy", "FFFF-1", line_id),
        invoice.format("Abercrombie, Kristy", txn_id, "FFFF-2"),
        invoice.format("Baker, Chris", txn_id, line_id),
        on_error="continueOnError",
    )
    assert [rs.get("statusCode") for rs in (missing, wrong_line, foreign)] == ["3120", "3120", "3210"]
    assert company.count("Invoice") == 0


def test_deleted_transactions_are_reported_and_undone(company: QuickBooksCompany, schema: etree.XMLSchema) -> None:
    (added,) = run(company, sales_order_add("Abercrombie, Kristy", "Cabinet Pulls", ref_number="SO-9"))
    txn_id = added.findtext("SalesOrderRet/TxnID")
    request = message_set(
        f"<TxnDelRq><TxnDelType>SalesOrder</TxnDelType><TxnID>{txn_id}</TxnID></TxnDelRq>",
        "<TxnDeletedQueryRq><TxnDelType>SalesOrder</TxnDelType><TxnDelType>Invoice</TxnDelType>"
        "</TxnDeletedQueryRq>",
        f"<TxnDelRq><TxnDelType>SalesOrder</TxnDelType><TxnID>{txn_id}</TxnID></TxnDelRq>",
        on_error="continueOnError",
    )
    assert_valid(schema, request)
    response = company.process(request)
    assert_valid(schema, response)
    deleted, report, again = answers(response)
    assert (deleted.findtext("TxnID"), deleted.findtext("RefNumber")) == (txn_id, "SO-9")
    assert [(r.findtext("TxnDelType"), r.findtext("TxnID")) for r in report] == [("SalesOrder", txn_id)]
    assert status(again) == ("3120", "Error")
    pulls = company.find("ItemInventory", Name="Cabinet Pulls")
    assert pulls is not None and pulls.text("QuantityOnSalesOrder") == "0" and company.count("SalesOrder") == 0


# ---- faults ----------------------------------------------------------------------------------------------------


def test_ending_the_quickbooks_session_forgets_every_iterator(company: QuickBooksCompany) -> None:
    company.add_many("SalesOrder", orders("Baker, Chris", 5))
    (first,) = run(company, '<SalesOrderQueryRq iterator="Start"><MaxReturned>2</MaxReturned></SalesOrderQueryRq>')
    iterator_id = first.get("iteratorID")
    assert company.open_iterators == 1
    company.end_qb_session()
    assert company.open_iterators == 0
    (rs,) = run(company, f'<SalesOrderQueryRq iterator="Continue" iteratorID="{iterator_id}"><MaxReturned>2'
                         "</MaxReturned></SalesOrderQueryRq>")
    assert status(rs) == ("3391", "Error")
    assert rs.get("statusMessage") == f'The iteratorID "{iterator_id}" is not valid.'


def test_the_quickbooks_session_can_close_after_some_message_sets(company: QuickBooksCompany) -> None:
    company.add_many("SalesOrder", orders("Baker, Chris", 5))
    company.close_session_after(2)
    (first,) = run(company, '<SalesOrderQueryRq iterator="Start"><MaxReturned>2</MaxReturned></SalesOrderQueryRq>')
    cont = (f'<SalesOrderQueryRq iterator="Continue" iteratorID="{first.get("iteratorID")}"><MaxReturned>2'
            "</MaxReturned></SalesOrderQueryRq>")
    (second,) = run(company, cont)
    (third,) = run(company, cont)
    assert status(second) == ("0", "Info") and status(third) == ("3391", "Error")


def test_a_delay_sleeps_before_every_answer(clock: Clock) -> None:
    slept: list[float] = []
    company = QuickBooksCompany(clock=clock, delay_seconds=2.5, sleep=slept.append)
    run(company, "<HostQueryRq/>")
    company.drop_next_responses()
    with pytest.raises(ResponseDropped):
        company.process(message_set("<HostQueryRq/>"))
    with pytest.raises(QuickBooksParseError):
        company.process("not xml")
    assert slept == [2.5, 2.5]


def test_a_disabled_feature_answers_3250_until_enabled(company: QuickBooksCompany) -> None:
    company.disable_feature("SalesOrder", "Estimate")
    add, query, estimates, customers = run(
        company, sales_order_add("Baker, Chris", "Installation"), "<SalesOrderQueryRq/>", "<EstimateQueryRq/>",
        "<CustomerQueryRq/>", on_error="continueOnError")
    assert [rs.get("statusCode") for rs in (add, query, estimates, customers)] == ["3250", "3250", "3250", "0"]
    company.enable_feature("SalesOrder")
    (again,) = run(company, sales_order_add("Baker, Chris", "Installation"))
    assert status(again) == ("0", "Info")


def test_a_lock_covers_mods_of_the_named_record(company: QuickBooksCompany) -> None:
    customer = company.find("Customer", FullName="Baker, Chris")
    assert customer is not None
    company.lock("Baker, Chris")
    body = (f"<CustomerModRq><CustomerMod><ListID>{customer.id}</ListID><EditSequence>"
            f"{customer.text('EditSequence')}</EditSequence><Phone>1</Phone></CustomerMod></CustomerModRq>")
    locked, retried = run(company, body, body, on_error="continueOnError")
    assert (locked.get("statusCode"), retried.get("statusCode")) == ("3175", "0")


def test_error_recovery_keeps_a_message_set_and_answers_its_status(company: QuickBooksCompany) -> None:
    def recovery(attributes: str, body: str = "") -> str:
        return (f'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq {attributes} '
                f'onError="continueOnError">{body}</QBXMLMsgsRq></QBXML>')

    sent = recovery('newMessageSetID="AB1"', '<CustomerAddRq requestID="r1"><CustomerAdd><Name>Recovered</Name>'
                                             "</CustomerAdd></CustomerAddRq>")
    company.drop_next_responses()
    with pytest.raises(ResponseDropped):
        company.process(sent)
    check = etree.fromstring(company.process(recovery('oldMessageSetID="AB1" newMessageSetID="AB1"')).encode())
    messages = check.find("QBXMLMsgsRs")
    assert messages is not None and messages.get("messageSetStatusCode") == "0"
    assert [(rs.get("requestID"), rs.get("statusCode")) for rs in messages] == [("r1", "0")]
    company.process(recovery('oldMessageSetID="AB1"'))  # clears the kept state
    cleared = etree.fromstring(company.process(recovery('oldMessageSetID="AB1" newMessageSetID="AB1"')).encode())
    assert cleared.find("QBXMLMsgsRs").get("messageSetStatusCode") == "1"  # type: ignore[union-attr]


def test_response_data_include_none_answers_statuses_only(company: QuickBooksCompany) -> None:
    request = message_set("<CustomerQueryRq/>").replace('onError="stopOnError"',
                                                         'responseData="includeNone" onError="stopOnError"')
    (rs,) = answers(company.process(request))
    assert status(rs) == ("0", "Info") and len(rs) == 0


# ---- Intuit's own samples ------------------------------------------------------------------------------------


def _sample_files() -> list[object]:
    if not SAMPLES.is_dir():
        reason = f"{SAMPLES} is absent: Intuit's sample requests in ../shared are needed for the sample test"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-samples")]
    return [pytest.param(path, id=path.name) for path in sorted(SAMPLES.glob("*.xml"))]


@pytest.fixture
def sample_company() -> QuickBooksCompany:
    """The seed company plus the names Intuit's samples refer to (their sample company's accounts and people)."""
    made = QuickBooksCompany.from_seed(clock=lambda: datetime(2024, 5, 1, 10, 0, tzinfo=UTC))
    for name, account_type in (("Miscellaneous", "Expense"), ("Construction", "Income"),
                               ("Other Income", "OtherIncome"), ("Other Expenses", "OtherExpense")):
        made.add("Account", Name=name, AccountType=account_type)
    for name in ("Baker, Chris", "Abercrombie, Kristy", "Ecker Designs"):
        made.add("Customer", Name=name)
    made.add("ItemService", Name="Blueprint Changes", SalesOrPurchase__AccountRef="Construction")
    made.define_custom_field("Spouse's Name", assign_to=["Customer"])
    made.process(message_set("<DataExtAddRq><DataExtAdd><OwnerID>0</OwnerID><DataExtName>Spouse's Name"
                             "</DataExtName><ListDataExtType>Customer</ListDataExtType><ListObjRef><FullName>"
                             "Ecker Designs</FullName></ListObjRef><DataExtValue>Pat</DataExtValue></DataExtAdd>"
                             "</DataExtAddRq>"))
    return made


SUPPORTED_SAMPLE_REQUESTS = frozenset({
    "AccountAddRq", "AccountQueryRq", "InvoiceAddRq", "BillQueryRq", "CompanyQueryRq", "DataExtAddRq",
    "DataExtModRq", "DataExtDelRq", "CustomerAddRq", "CustomerQueryRq", "EmployeeQueryRq", "EntityQueryRq",
    "HostQueryRq", "InvoiceQueryRq", "ItemInventoryQueryRq", "ItemServiceAddRq", "ItemServiceQueryRq",
    "ItemInventoryAddRq", "ItemNonInventoryAddRq", "ItemNonInventoryQueryRq", "PayrollItemWageQueryRq",
    "PreferencesQueryRq", "VendorAddRq", "VendorQueryRq",
})
"""The requests of Intuit's samples the simulated company executes; the others answer 3250 (reports, checks,
deposits, payments, journal entries, sales tax items, sales reps, templates, display requests)."""


@pytest.mark.parametrize("sample", _sample_files())
def test_every_official_sample_is_answered(
    sample_company: QuickBooksCompany, schema: etree.XMLSchema, sample: Path
) -> None:
    # Validated against qbxmlops130.xsd: every answer the simulated company gives to these samples fits 13.0.
    document = sample.read_text(encoding="utf-8")
    messages = etree.fromstring(document.encode()).find("QBXMLMsgsRq")
    assert messages is not None, "every official sample is a qbXML request message set"
    requests = [rq for rq in messages if isinstance(rq.tag, str)]
    response = sample_company.process(document)
    assert_valid(schema, response)
    answered_set = etree.fromstring(response.encode()).find("QBXMLMsgsRs")
    assert answered_set is not None
    answered = list(answered_set)
    stopped = messages.get("onError") != "continueOnError" and answered[-1:] and answered[-1].get("statusSeverity")
    assert len(answered) == len(requests) or (stopped == "Error" and len(answered) < len(requests))
    for rq, rs in zip(requests, answered, strict=False):
        assert rs.tag == str(rq.tag)[: -len("Rq")] + "Rs" and rs.get("requestID") == rq.get("requestID")
        if rq.tag in SUPPORTED_SAMPLE_REQUESTS:
            assert rs.get("statusCode") in ("0", "1", "500"), (rq.tag, rs.get("statusMessage"))
            if rq.get("metaData") == "MetaDataOnly":
                assert rs.get("retCount", "").isdigit() and len(rs) == 0
            elif rs.get("statusCode") == "0":
                assert len(rs) > 0, f"{rs.tag} answered no data"
        else:
            assert status(rs) == ("3250", "Error"), rq.tag


def test_a_status_check_after_intuits_error_recovery_sample_answers_the_kept_set(
    sample_company: QuickBooksCompany,
) -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} is absent: Intuit's sample requests in ../shared are needed for the sample test")
    sample_company.process((SAMPLES / "ErrRecovery1.xml").read_text(encoding="utf-8"))
    status_check = (SAMPLES / "ErrRecovery2.xml").read_text(encoding="utf-8")
    check = etree.fromstring(sample_company.process(status_check).encode())
    messages = check.find("QBXMLMsgsRs")
    assert messages is not None and messages.get("messageSetStatusCode") == "0"
    assert [rs.tag for rs in messages] == ["CheckAddRs"]


def test_the_simulated_web_connector_ends_the_quickbooks_session_with_each_update(
    company: QuickBooksCompany,
) -> None:
    tns, soap = "http://developer.intuit.com/", "http://schemas.xmlsoap.org/soap/envelope/"
    company.add_many("SalesOrder", orders("Baker, Chris", 3))
    received: list[str] = []
    results: dict[str, str | list[str]] = {
        "authenticate": ["ticket-1", ""],
        "sendRequestXML": message_set('<SalesOrderQueryRq iterator="Start"><MaxReturned>1</MaxReturned>'
                                      "</SalesOrderQueryRq>"),
        "receiveResponseXML": "100",
        "closeConnection": "OK",
    }

    def service(request: httpx.Request) -> httpx.Response:
        method = request.headers["SOAPAction"].strip('"').removeprefix(tns)
        call = etree.fromstring(request.content).find(f"{{{soap}}}Body/{{{tns}}}{method}")
        assert call is not None
        if method == "receiveResponseXML":
            received.append(call.findtext(f"{{{tns}}}response") or "")
        envelope = etree.Element(f"{{{soap}}}Envelope")
        answer = etree.SubElement(etree.SubElement(envelope, f"{{{soap}}}Body"), f"{{{tns}}}{method}Response")
        result = etree.SubElement(answer, f"{{{tns}}}{method}Result")
        value = results.get(method, "")
        if isinstance(value, str):
            result.text = value
        else:
            for item in value:
                etree.SubElement(result, f"{{{tns}}}string").text = item
        return httpx.Response(200, content=etree.tostring(envelope), headers={"Content-Type": "text/xml"})

    with httpx.Client(transport=httpx.MockTransport(service)) as http:
        report = WebConnectorClient("http://qbwc.test/", "user", "secret", company, client=http).run_session()
    assert report.outcome == "done"
    (rs,) = answers(received[0])
    assert rs.get("iteratorRemainingCount") == "2"  # QuickBooks held an iterator during the update...
    assert company.open_iterators == 0  # ...and forgot it when the update ended
