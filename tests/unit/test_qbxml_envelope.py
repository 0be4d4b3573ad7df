"""The message set the service sends, and how it reads QuickBooks' answers."""

from __future__ import annotations

import pytest
from lxml import etree
from lxml.builder import E

from qbwc_service.qbxml.envelope import Request, build_message_set
from qbwc_service.qbxml.errors import MalformedQbxml
from qbwc_service.qbxml.response import parse_host_info, parse_message_set
from qbwc_service.qbxml.versions import negotiate, parse_version
from tests.conftest import shared_path


def test_message_set_stamps_request_ids_and_version() -> None:
    text = build_message_set(
        [Request("7", E.CustomerQueryRq(E.FullName("A & B"))), Request("8", E.HostQueryRq())], (13, 0)
    )
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n<QBXML>')
    root = etree.fromstring(text.encode())
    msgs = root.find("QBXMLMsgsRq")
    assert msgs is not None and msgs.get("onError") == "continueOnError"
    assert [(c.tag, c.get("requestID")) for c in msgs] == [("CustomerQueryRq", "7"), ("HostQueryRq", "8")]
    assert msgs.findtext("CustomerQueryRq/FullName") == "A & B"
    assert "A &amp; B" in text


def test_message_set_is_valid_qbxml(qbxml_schema_130: etree.XMLSchema) -> None:
    text = build_message_set([Request("1", E.HostQueryRq()), Request("2", E.CompanyQueryRq())], (13, 0))
    qbxml_schema_130.assertValid(etree.fromstring(text.encode()))


def test_parse_reads_each_response_with_its_request_id() -> None:
    text = shared_path("qbxml", "samples", "constructed", "Rs_errors.xml").read_text()
    responses = parse_message_set(text)
    codes = [r.status_code for r in responses]
    assert "3140" in codes and "1" in codes
    assert all(r.request_id for r in responses)


def test_parse_reads_ids_of_an_add() -> None:
    text = shared_path("qbxml", "samples", "constructed", "Rs_adds_success.xml").read_text()
    first = parse_message_set(text)[0]
    assert first.ok and first.ids()["TxnID"]


def test_parse_is_lenient_but_refuses_dtds() -> None:
    lenient = "<QBXML><QBXMLMsgsRs><FooRs requestID='1' statusCode='0'><Odd/></FooRs></QBXMLMsgsRs></QBXML>"
    assert parse_message_set(lenient)[0].ok
    with pytest.raises(MalformedQbxml):
        parse_message_set("<QBXML><QBXMLMsgsRs><FooRs requestID='1' statusCode='0'/></QBXMLMsgsRs>")
    with pytest.raises(MalformedQbxml):
        parse_message_set('<!DOCTYPE x [<!ENTITY a "aaaa">]><QBXML/>')
    with pytest.raises(MalformedQbxml):
        parse_message_set("<QBXML><Other/></QBXML>")


def test_host_info_from_the_real_hcp_response() -> None:
    info = parse_host_info(shared_path("qbxml", "samples", "strHCPResponse_QBPro2014_fixed.xml").read_text())
    assert info.product == "QuickBooks Pro 2014"
    assert info.country == "US"
    assert info.company_name == "myCompany"
    assert info.supported_versions[-1] == "13.0"
    assert info.file_id == "{00000ee-1111-ffff-cccc-5ff123456047}"


@pytest.mark.parametrize(
    ("ours", "supported", "reported", "expected"),
    [
        ((16, 0), ["1.0", "12.0", "13.0"], (13, 0), (13, 0)),
        ((13, 0), ["13.0", "14.0", "16.0"], (16, 0), (13, 0)),
        ((16, 0), [], (13, 0), (13, 0)),
        ((16, 0), ["CA3.0", "2.0", "6.0"], None, (6, 0)),
        ((16, 0), ["1.0", "2.0"], (13, 0), (2, 0)),
    ],
)
def test_negotiation_takes_the_highest_common_version(
    ours: tuple[int, int], supported: list[str], reported: tuple[int, int] | None, expected: tuple[int, int]
) -> None:
    assert negotiate(ours, supported, reported) == expected


def test_parse_version() -> None:
    assert parse_version("13.0") == (13, 0)
    assert parse_version("CA3.0") is None
    assert parse_version("x") is None
