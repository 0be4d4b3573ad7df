"""Closing a QuickBooks sales order's lines (the Mod, checked against the qbXML schema), and the webhook's
signature and body."""

from __future__ import annotations

import pytest
from lxml import etree

from mappings.changes import build_closing_mod, closing_lines
from qbwc_service.errors import InvalidJobPayload, Refused
from qbwc_service.qbxml.schema import RequestValidator
from qbwc_service.webhooks import parse_event, sign

ORDER = etree.fromstring("""<SalesOrderRet><TxnID>1-1</TxnID><EditSequence>7</EditSequence>
<IsManuallyClosed>false</IsManuallyClosed>
<SalesOrderLineRet><TxnLineID>L1</TxnLineID><Quantity>2</Quantity><Invoiced>2</Invoiced>
<IsManuallyClosed>false</IsManuallyClosed></SalesOrderLineRet>
<SalesOrderLineRet><TxnLineID>L2</TxnLineID><Quantity>5</Quantity><Invoiced>1</Invoiced>
<IsManuallyClosed>false</IsManuallyClosed></SalesOrderLineRet>
<SalesOrderLineRet><TxnLineID>L3</TxnLineID><Quantity>4</Quantity>
<IsManuallyClosed>true</IsManuallyClosed></SalesOrderLineRet>
<SalesOrderLineGroupRet><TxnLineID>G1</TxnLineID></SalesOrderLineGroupRet>
</SalesOrderRet>""")


def test_closing_marks_the_open_lines_not_fully_invoiced(schema_gate: RequestValidator) -> None:
    assert closing_lines(ORDER, close=True) == (["L2"], ["L1", "L3"])
    assert closing_lines(ORDER, close=False) == (["L3"], ["L1", "L2"])
    mod = build_closing_mod(ORDER, "1-1", "7", close=True)
    assert schema_gate.problems([mod], (13, 0)) == [None]
    lines = {line.findtext("TxnLineID"): line.findtext("IsManuallyClosed") for line in mod.iter("SalesOrderLineMod")}
    assert lines == {"L1": None, "L2": "true", "L3": None}  # every line named: none is deleted
    assert mod.findtext("SalesOrderMod/SalesOrderLineGroupMod/TxnLineID") == "G1"
    assert mod.find("SalesOrderMod/IsManuallyClosed") is None  # the order itself is left to QuickBooks


def test_reopening_clears_the_order_mark_too(schema_gate: RequestValidator) -> None:
    closed = etree.fromstring(etree.tostring(ORDER).replace(b"<IsManuallyClosed>false</IsManuallyClosed>\n<Sales",
                                                            b"<IsManuallyClosed>true</IsManuallyClosed>\n<Sales", 1))
    mod = build_closing_mod(closed, "1-1", "7", close=False)
    assert schema_gate.problems([mod], (13, 0)) == [None]
    assert mod.findtext("SalesOrderMod/IsManuallyClosed") == "false"


def test_the_signature_covers_the_timestamp_and_the_body() -> None:
    body = b'{"id": "e1", "entity": {"type": "shippings", "id": 8001}}'
    signed = sign("secret-of-sixteen+", "1700000000", body)
    assert signed.startswith("sha256=") and len(signed) == 7 + 64
    assert signed != sign("secret-of-sixteen+", "1700000001", body) != sign("secret-of-sixteen+", "1700000000",
                                                                             body + b" ")
    event = parse_event(body)
    assert (event.event_id, event.flow, event.fusion_id) == ("e1", "shipment", "8001")
    assert parse_event(b'{"id": 5, "entity": {"type": "sales_order", "id": "5001"}}').flow == "sales_order"


@pytest.mark.parametrize(("body", "error"), [
    (b"not json", InvalidJobPayload),
    (b'{"entity": {"type": "shippings", "id": 1}}', InvalidJobPayload),
    (b'{"id": "e", "entity": {"type": "shippings"}}', InvalidJobPayload),
    (b'{"id": "e", "entity": {"type": "invoices", "id": 1}}', Refused),
    (b'[1, 2]', InvalidJobPayload),
])
def test_a_body_that_names_no_entity_is_refused(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_event(body)
