"""The simulated company's voided transactions and direct edits, as the retrieve flows meet them: a voided invoice
stays, every amount zero and VOID: before its memo, its stock back; a pull sees it again (a new EditSequence);
estimates and manually closed orders answer as QuickBooks does; every answer is valid qbXML."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree

from qbwc_service.qbxml.queries import QuerySpec, build_query
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from tests.unit.test_simulated_quickbooks import message_set, run, status


@pytest.fixture
def schema(qbxml_schema_130: etree.XMLSchema) -> etree.XMLSchema:
    return qbxml_schema_130


def void_rq(kind: str, txn_id: str) -> str:
    return f'<TxnVoidRq requestID="v"><TxnVoidType>{kind}</TxnVoidType><TxnID>{txn_id}</TxnID></TxnVoidRq>'


def test_a_voided_invoice_keeps_its_lines_with_zero_amounts_and_gives_its_stock_back(
        company: QuickBooksCompany, schema: etree.XMLSchema) -> None:
    before = company.quantity_on_hand("Cabinet Pulls")
    invoice = company.add("Invoice", CustomerRef="Baker, Chris", RefNumber="71", Memo="first try",
                          lines=[{"ItemRef": "Cabinet Pulls", "Quantity": "4", "Rate": "3.00"}])
    assert company.quantity_on_hand("Cabinet Pulls") == before - Decimal(4)
    sequence = invoice.text("EditSequence")
    request = message_set(void_rq("Invoice", invoice.id))
    assert schema.validate(etree.fromstring(request.encode())), str(schema.error_log)
    response = company.process(request)
    assert schema.validate(etree.fromstring(response.encode())), str(schema.error_log)
    (rs,) = run(company, void_rq("Invoice", invoice.id))
    assert status(rs) == ("3210", "Error")  # voided already
    voided = company.find("Invoice", RefNumber="71")
    assert voided is not None and voided.text("Memo") == "VOID: first try"
    assert voided.text("Subtotal") == voided.text("BalanceRemaining") == "0.00"
    assert voided.text("InvoiceLineRet/Amount") == "0.00" and voided.text("InvoiceLineRet/Quantity") == "4"
    assert voided.text("EditSequence") != sequence
    assert company.quantity_on_hand("Cabinet Pulls") == before
    query = etree.tostring(build_query(QuerySpec("Invoice"), (13, 0))).decode()
    (found,) = run(company, query)
    assert schema.validate(etree.fromstring(company.process(message_set(query)).encode())), str(schema.error_log)
    assert found.findtext("InvoiceRet/Memo") == "VOID: first try"


def test_only_invoices_and_bills_are_voided(company: QuickBooksCompany) -> None:
    order = company.add("SalesOrder", CustomerRef="Baker, Chris", lines=[{"ItemRef": "Cabinet Pulls", "Quantity": "1"}])
    (rs,) = run(company, void_rq("SalesOrder", order.id))
    assert status(rs) == ("3250", "Error")
    with pytest.raises(ValueError, match="3120"):
        company.void(order.id)


def test_closing_an_order_by_hand_and_editing_it_are_new_versions(company: QuickBooksCompany,
                                                                  schema: etree.XMLSchema) -> None:
    order = company.add("SalesOrder", CustomerRef="Baker, Chris", lines=[{"ItemRef": "Cabinet Pulls", "Quantity": "1"}])
    first = order.text("EditSequence")
    closed = company.close_manually("SalesOrder", order.id)
    assert closed.text("IsManuallyClosed") == "true" and closed.text("EditSequence") != first
    edited = company.modify("SalesOrder", order.id, Memo="call first")
    assert edited.text("Memo") == "call first" and edited.text("IsManuallyClosed") == "true"
    estimate = company.add("Estimate", CustomerRef="Baker, Chris",
                           lines=[{"ItemRef": "Cabinet Pulls", "Quantity": "2", "Rate": "3.00"}])
    for kind in ("SalesOrder", "Estimate"):
        answer = company.process(message_set(etree.tostring(build_query(QuerySpec(kind), (13, 0))).decode()))
        assert schema.validate(etree.fromstring(answer.encode())), str(schema.error_log)
    assert estimate.text("EstimateLineRet/Amount") == "6.00"
    with pytest.raises(ValueError, match="no SalesOrder"):
        company.modify("SalesOrder", "nope", Memo="x")


@pytest.mark.parametrize("entity", ["SalesOrder", "Invoice", "Estimate", "PurchaseOrder"])
def test_the_pulls_the_retrieve_uses_ask_for_lines_and_public_custom_fields(entity: str) -> None:
    query = build_query(QuerySpec(entity), (13, 0))
    assert query.findtext("IncludeLineItems") == "true" and query.findtext("OwnerID") == "0"
