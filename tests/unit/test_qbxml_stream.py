"""Streaming QuickBooks' answers: headers, Rets one at a time, refusals, and memory that stays flat."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import pytest
from lxml import etree
from lxml.builder import E

from qbwc_service.qbxml.errors import MalformedQbxml
from qbwc_service.qbxml.stream import ResponseHeader, iter_responses
from tests.conftest import shared_path

TWO_RESPONSES = b"""<?xml version="1.0" encoding="utf-8"?>
<QBXML><QBXMLMsgsRs>
  <CustomerQueryRs requestID="c" statusCode="0" statusSeverity="Info" statusMessage="Status OK" retCount="5">
    <CustomerRet><ListID>C1</ListID></CustomerRet>
    <CustomerRet><ListID>C2</ListID></CustomerRet>
    <CustomerRet><ListID>C3</ListID></CustomerRet>
    <CustomerRet><ListID>C4</ListID></CustomerRet>
    <CustomerRet><ListID>C5</ListID></CustomerRet>
  </CustomerQueryRs>
  <VendorQueryRs requestID="v" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
    <VendorRet><ListID>V1</ListID></VendorRet>
    <VendorRet><ListID>V2</ListID></VendorRet>
  </VendorQueryRs>
</QBXMLMsgsRs></QBXML>"""

ENTITY_BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE QBXML [<!ENTITY a0 "aaaaaaaaaa">'
    + "".join(f'<!ENTITY a{i} "' + f"&a{i - 1};" * 10 + '">' for i in range(1, 9))
    + "]>\n<QBXML><QBXMLMsgsRs><CustomerQueryRs requestID='1'><CustomerRet><Name>&a8;</Name>"
    + "</CustomerRet></CustomerQueryRs></QBXMLMsgsRs></QBXML>"
)


def ids(rets: Iterable[etree._Element]) -> list[str | None]:
    return [ret.findtext("ListID") or ret.findtext("TxnID") for ret in rets]


def read_all(source: bytes | str | BinaryIO) -> list[tuple[ResponseHeader, list[etree._Element]]]:
    """Every response with copies of its Rets (the streamed elements are cleared as reading goes on)."""
    return [(header, [copy.deepcopy(ret) for ret in rets]) for header, rets in iter_responses(source)]


def test_headers_and_rets_of_a_message_set_in_document_order() -> None:
    data = shared_path("qbxml", "samples", "constructed", "Rs_queries_iterator.xml").read_bytes()
    seen = [(header, [(ret.tag, ids([ret])[0]) for ret in rets]) for header, rets in iter_responses(data)]

    assert [header.request_id for header, _ in seen] == [
        "pull-so-1", "items-inv", "items-all", "emp-q", "vend-q", "dx-add-list"
    ]
    assert seen[0][0] == ResponseHeader(
        name="SalesOrderQueryRs",
        request_id="pull-so-1",
        status_code="0",
        status_severity="Info",
        status_message="Status OK",
        ret_count=1,
        iterator_id="{eb05f701-e727-472f-8ade-6753c4f67a46}",
        iterator_remaining=37,
    )
    assert seen[0][1] == [("SalesOrderRet", "1A3-1714600000")]
    assert seen[2][1] == [
        ("ItemServiceRet", "80000040-1714000000"), ("ItemNonInventoryRet", "80000041-1714000000")
    ]
    assert seen[3][0].iterator_id is None and seen[3][0].iterator_remaining is None
    assert seen[4][0].iterator_remaining == 0
    assert seen[5][1] == [("DataExtRet", None)]


def test_a_ret_comes_complete_with_its_nested_rets() -> None:
    with shared_path("qbxml", "samples", "qbwc-qbxml-gem", "purchase_order_query_rs.xml").open("rb") as file:
        [(header, [order])] = read_all(file)
    assert header.name == "PurchaseOrderQueryRs"
    assert header.iterator_id == "{ee76b904-7ef8-4b83-9841-63d4715a273b}"
    assert header.iterator_remaining == 0
    assert order.findtext("TxnID") == "30-1285640333"
    assert order.findtext("PurchaseOrderLineRet/Amount") == "125.00"
    values = [ext.findtext("DataExtValue") for ext in order.findall("DataExtRet")]
    assert values == ["test 1", "test 2", "test 3"]


def test_every_ret_of_each_response_is_handed_over() -> None:
    assert [(header.request_id, len(rets)) for header, rets in read_all(TWO_RESPONSES)] == [("c", 5), ("v", 2)]
    data = shared_path("qbxml", "samples", "constructed", "Rs_queries_iterator.xml").read_bytes()
    assert {header.request_id: len(rets) for header, rets in read_all(data)}["items-all"] == 2


def test_leaving_rets_unread_still_reaches_the_next_response() -> None:
    responses = iter_responses(TWO_RESPONSES)
    customers_header, customers = next(responses)
    assert customers_header.ret_count == 5
    first = next(customers)
    assert first.findtext("ListID") == "C1"
    assert next(customers).findtext("ListID") == "C2"
    assert len(first) == 0, "a Ret is cleared once the next one is asked for"

    vendors_header, vendors = next(responses)
    assert vendors_header.request_id == "v"
    assert ids(vendors) == ["V1", "V2"]
    assert list(customers) == []
    assert next(responses, None) is None


def test_a_response_whose_rets_are_never_asked_for_is_skipped() -> None:
    assert [header.request_id for header, _ in iter_responses(TWO_RESPONSES)] == ["c", "v"]


def test_no_match_is_an_empty_response_with_its_status() -> None:
    data = shared_path("qbxml", "samples", "constructed", "Rs_errors.xml").read_bytes()
    [(header, rets)] = [(header, rets) for header, rets in read_all(data) if header.request_id == "cust-q1"]
    assert header.status_code == "1" and not header.ok
    assert header.status_message == "A query request did not find a matching object in QuickBooks"
    assert rets == []


def test_unexpected_elements_are_skipped_and_odd_attributes_tolerated() -> None:
    data = b"""<QBXML><SignonMsgsRs><Whatever/></SignonMsgsRs><QBXMLMsgsRs>
      <Surprise><CustomerRet><ListID>not-in-an-Rs</ListID></CustomerRet></Surprise>
      <CustomerQueryRs requestID="7" retCount="many" iteratorRemainingCount="">
        <!-- a comment QuickBooks did not send -->
        <Unexpected><CustomerRet><ListID>nested</ListID></CustomerRet></Unexpected>
        <CustomerRet><ListID>A</ListID><NotInTheSchema>x</NotInTheSchema></CustomerRet>
        stray text
        <CustomerRet><ListID>B</ListID></CustomerRet>
      </CustomerQueryRs>
    </QBXMLMsgsRs></QBXML>"""
    [(header, rets)] = read_all(data)
    assert header.request_id == "7"
    assert header.status_code == "0" and header.ok
    assert header.ret_count is None and header.iterator_remaining is None
    assert [child.tag for child in rets] == ["Unexpected", "CustomerRet", "CustomerRet"]
    records = [child for child in rets if child.tag.endswith("Ret")]
    assert ids(records) == ["A", "B"]
    assert records[0].findtext("NotInTheSchema") == "x"


def test_a_message_set_as_the_root_element_is_read() -> None:
    data = b"<QBXMLMsgsRs><HostQueryRs requestID='h'><HostRet/></HostQueryRs></QBXMLMsgsRs>"
    assert [(header.request_id, [ret.tag for ret in rets]) for header, rets in read_all(data)] == [("h", ["HostRet"])]


@pytest.mark.parametrize(
    "source",
    [
        ENTITY_BOMB.encode(),
        ENTITY_BOMB,
        "\ufeff" + ENTITY_BOMB,
        ENTITY_BOMB.encode("utf-16"),
        b"\xef\xbb\xbf<!-- a comment -->\n<!DOCTYPE QBXML SYSTEM 'http://127.0.0.1:9/q.dtd'><QBXML/>",
        b"<!DOCTYPE QBXML><QBXML><QBXMLMsgsRs/></QBXML>",
    ],
    ids=["bytes", "str", "str-with-bom", "utf-16", "after-a-comment", "bare-doctype"],
)
def test_doctypes_and_entity_bombs_are_refused(source: bytes | str) -> None:
    with pytest.raises(MalformedQbxml, match="DOCTYPE"):
        list(iter_responses(source))


def test_an_entity_bomb_from_a_file_is_refused_before_anything_is_read() -> None:
    with pytest.raises(MalformedQbxml, match="DOCTYPE"):
        next(iter_responses(io.BytesIO(ENTITY_BOMB.encode())))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"", "not well-formed"),
        (b"HTTP/1.1 500 Internal Server Error", "not well-formed"),
        ("<QBXML><QBXMLMsgsRs><CustomerQueryRs></VendorQueryRs></QBXMLMsgsRs></QBXML>", "not well-formed"),
        (b"<QBXML><QBXMLMsgsRs><CustomerQueryRs>&nope;</CustomerQueryRs></QBXMLMsgsRs></QBXML>", "not well"),
        (b"<QBXML><QBXMLMsgsRq><CustomerQueryRq requestID='1'/></QBXMLMsgsRq></QBXML>", "no QBXMLMsgsRs"),
        (b"<html><body>Sign in</body></html>", "no QBXMLMsgsRs"),
    ],
    ids=["empty", "not-xml", "mismatched-tags", "undefined-entity", "a-request", "html"],
)
def test_text_that_is_not_a_response_is_refused(source: bytes | str, message: str) -> None:
    with pytest.raises(MalformedQbxml, match=message):
        for _, rets in iter_responses(source):
            list(rets)


def test_a_truncated_response_hands_over_the_complete_rets_then_fails() -> None:
    cut = TWO_RESPONSES.index(b"<ListID>V2")
    received: list[tuple[str | None, str | None]] = []
    with pytest.raises(MalformedQbxml, match="not well-formed"):
        for header, rets in iter_responses(TWO_RESPONSES[:cut]):
            received.extend((header.request_id, ret.findtext("ListID")) for ret in rets)
    assert received == [("c", "C1"), ("c", "C2"), ("c", "C3"), ("c", "C4"), ("c", "C5"), ("v", "V1")]


def test_a_str_declared_latin_1_keeps_its_accents() -> None:
    text = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<?qbxml version="13.0"?>\n'
        '<QBXML><QBXMLMsgsRs><CustomerQueryRs requestID="1" statusMessage="Status OK">'
        "<CustomerRet><Name>Café Éloïse</Name><Notes>déjà vu — 5 €</Notes></CustomerRet>"
        "</CustomerQueryRs></QBXMLMsgsRs></QBXML>"
    )
    [(name, notes)] = [
        (ret.findtext("Name"), ret.findtext("Notes")) for _, rets in iter_responses(text) for ret in rets
    ]
    assert name == "Café Éloïse"
    assert notes == "déjà vu — 5 €"


def test_latin_1_bytes_are_read_as_declared() -> None:
    data = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<QBXML><QBXMLMsgsRs><CustomerQueryRs requestID="1">'
        "<CustomerRet><Name>Café</Name></CustomerRet></CustomerQueryRs></QBXMLMsgsRs></QBXML>"
    ).encode("latin-1")
    assert [ret.findtext("Name") for _, rets in iter_responses(data) for ret in rets] == ["Café"]


def write_big_response(path: Path, rets: int) -> None:
    """A CustomerQueryRs of ``rets`` realistic Rets (about 1 KB each), written one Ret at a time."""
    with etree.xmlfile(str(path), encoding="utf-8") as out:
        out.write_declaration()
        with out.element("QBXML"), out.element("QBXMLMsgsRs"):
            with out.element("CustomerQueryRs", requestID="big", statusCode="0", statusSeverity="Info",
                             statusMessage="Status OK", retCount=str(rets)):
                for number in range(rets):
                    out.write(customer_ret(number))


def customer_ret(number: int) -> etree._Element:
    ret: etree._Element = E.CustomerRet(
        E.ListID(f"{0x80000000 + number:08X}-1714000000"),
        E.TimeCreated("2024-01-02T09:00:00-07:00"),
        E.TimeModified("2024-04-02T09:00:00-07:00"),
        E.EditSequence(str(1712073600 + number)),
        E.Name(f"Customer {number}"),
        E.FullName(f"Customer {number}"),
        E.IsActive("true"),
        E.BillAddress(E.Addr1("12 Main Street"), E.City("Bayshore"), E.State("CA"), E.PostalCode("94326")),
        E.Notes("Delivery at the back door; " * 24),
        E.DataExtRet(
            E.OwnerID("0"), E.DataExtName("Region"), E.DataExtType("STR255TYPE"), E.DataExtValue("West")
        ),
    )
    return ret


def test_a_20_mb_response_is_read_with_few_rets_alive_at_once(tmp_path: Path) -> None:
    path = tmp_path / "customers.xml"
    write_big_response(path, 20_000)
    assert path.stat().st_size > 20_000_000
    seen = 0
    most_siblings = 0
    most_elements = 0
    with path.open("rb") as file:
        for header, rets in iter_responses(file):
            assert header.ret_count == 20_000
            for ret in rets:
                assert ret.findtext("ListID") == f"{0x80000000 + seen:08X}-1714000000"
                parent = ret.getparent()
                assert parent is not None
                most_siblings = max(most_siblings, len(parent))
                if seen % 500 == 0:
                    whole_tree = ret.getroottree().getroot().iter()
                    most_elements = max(most_elements, sum(1 for _ in whole_tree))
                seen += 1
    assert seen == 20_000
    # The parser reads 32 KiB ahead, so a few dozen ~1 KB Rets may already exist; never thousands.
    assert most_siblings <= 100
    assert most_elements <= 2_000
