"""Requests are made acceptable to QuickBooks Desktop US before they are sent: Latin-1 text,
lengths within the spec's maxima, and no element newer than the negotiated qbXML version."""

from __future__ import annotations

import importlib.util
import sys
import unicodedata
from pathlib import Path
from types import ModuleType

import pytest
from lxml import etree
from lxml.builder import E

from qbwc_service.qbxml import _limits_data
from qbwc_service.qbxml._limits_data import MAX_LENGTH, NOT_IN_QBD, SINCE
from qbwc_service.qbxml.envelope import Request, build_message_set
from qbwc_service.qbxml.errors import NotWritable, TooLong, UnsupportedVersion, ValueTooLong
from qbwc_service.qbxml.limits import TextWarning, element_path, make_safe, max_length
from qbwc_service.qbxml.text import is_latin1_safe, to_latin1

PROJECT = Path(__file__).resolve().parents[2]
SHARED = Path(__file__).resolve().parents[3] / "shared"
SPEC = SHARED / "qbxml" / "reference" / "qbxmlops130.xml"


def _shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: Intuit's reference files in ../shared are needed for this test")
    return path


def _sales_order(*header: etree._Element, line: tuple[etree._Element, ...] = ()) -> etree._Element:
    request: etree._Element = E.SalesOrderAddRq(
        E.SalesOrderAdd(
            E.CustomerRef(E.FullName("Lodz Tools")),
            *header,
            E.SalesOrderLineAdd(E.ItemRef(E.FullName("Widget")), *line),
        )
    )
    return request


# --- the generated tables ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "length"),
    [
        ("SalesOrderAddRq/SalesOrderAdd/ShipAddress/Note", 41),
        ("SalesOrderAddRq/SalesOrderAdd/Memo", 4095),
        ("SalesOrderAddRq/SalesOrderAdd/RefNumber", 11),
        ("SalesOrderAddRq/SalesOrderAdd/CustomerRef/FullName", 209),
        ("SalesOrderAddRq/SalesOrderAdd/SalesOrderLineAdd/Other1", 29),
        # "max length = 3 for QBD|QBCA|QBUK, max length = 6 for QBAU": the QBD figure.
        ("SalesOrderAddRq/SalesOrderAdd/CustomerSalesTaxCodeRef/FullName", 3),
        ("CustomerAddRq/CustomerAdd/Name", 41),
        # "max length = 25" names no edition, so it holds for QBD too.
        ("CustomerAddRq/CustomerAdd/FirstName", 25),
    ],
)
def test_max_lengths_are_the_desktop_figures_of_the_spec(path: str, length: int) -> None:
    assert MAX_LENGTH[path] == length


def test_lengths_given_only_for_other_editions_are_not_tabulated() -> None:
    # AccountAdd SalesTaxCodeRef/FullName: "max length = 3 for QBCA|QBUK, max length = 6 for QBAU".
    assert "AccountAddRq/AccountAdd/SalesTaxCodeRef/FullName" not in MAX_LENGTH
    # AccountAdd Name: "max length = 31 for QBD|QBCA|QBUK|QBAU, max length = 100 for QBOE".
    assert MAX_LENGTH["AccountAddRq/AccountAdd/Name"] == 31


@pytest.mark.parametrize(
    ("path", "since"),
    [
        ("SalesOrderAddRq", (2, 1)),
        ("SalesOrderAddRq/SalesOrderAdd/ExternalGUID", (9, 0)),
        ("SalesOrderAddRq/SalesOrderAdd/SalesOrderLineAdd/DataExt", (5, 0)),
        ("SalesOrderAddRq/IncludeRetElement", (4, 0)),
        # "<!-- v11.0, BEGIN OR: You may optionally have SerialNumber OR LotNumber -->"
        ("SalesOrderAddRq/SalesOrderAdd/SalesOrderLineAdd/SerialNumber", (11, 0)),
        ("SalesOrderAddRq/SalesOrderAdd/SalesOrderLineAdd/LotNumber", (11, 0)),
    ],
)
def test_versions_come_from_element_and_group_notes(path: str, since: tuple[int, int]) -> None:
    assert SINCE[path] == since


def test_children_inherit_versions_at_lookup_not_in_the_table() -> None:
    assert "SalesOrderAddRq/SalesOrderAdd/SalesOrderLineAdd/DataExt/DataExtName" not in SINCE
    assert "SalesOrderAddRq/SalesOrderAdd/CustomerRef" not in SINCE


def test_elements_of_other_editions_are_marked() -> None:
    assert "SalesOrderAddRq/SalesOrderAdd/IsTaxIncluded" in NOT_IN_QBD
    # "not in QBD|QBCA|QBUK": Australian only.
    assert "SalesOrderAddRq/SalesOrderAdd/SalesOrderLineAdd/TaxAmount" in NOT_IN_QBD
    # "not in QBAU" does not concern the US desktop.
    assert "SalesOrderAddRq/SalesOrderAdd/SalesOrderLineAdd/InventorySiteRef" not in NOT_IN_QBD


def test_responses_are_not_tabulated() -> None:
    keys = [*MAX_LENGTH, *SINCE, *NOT_IN_QBD]
    assert all(key.split("/")[0].endswith("Rq") for key in keys)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_qbxml_limits", PROJECT / "tools" / "gen_qbxml_limits.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_regenerating_from_the_spec_gives_the_committed_table() -> None:
    spec = _shared(SPEC)
    generator = _generator()
    committed = Path(_limits_data.__file__).read_text(encoding="utf-8")
    assert generator.render(generator.collect(spec), spec) == committed


def test_generator_refuses_annotations_it_does_not_understand() -> None:
    generator = _generator()
    assert generator.parse_note("opt, max length = 3 for QBD|QBCA|QBUK, max length = 6 for QBAU, v6.0") == (
        generator.Note(max_length=3, since=(6, 0), not_in_qbd=False)
    )
    with pytest.raises(generator.SpecError):
        generator.parse_note("opt, max width = 3 for QBD")


# --- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Ł has no Latin-1 form but a base letter; ó is Latin-1 already; ź loses its accent.
        ("Łódź", "Lódz"),
        ("Dvořák & Šťastný", "Dvorák & Stastný"),
        ("\u2018single\u2019 \u201cdouble\u201d", "'single' \"double\""),
        ("2\u20133 \u2014 wait\u2026", "2-3 - wait..."),
        ("5 \u20ac, Acme\u2122, \u0153uvre \u0152", "5 EUR, AcmeTM, oeuvre OE"),
        ("\ufb01ne \u2153", "fine 1/3"),
        ("北京 \u03b1 \U0001f600", "?? ? ?"),
        ("a\x00b\x07c\x1fd\x7f", "abcd"),
        ("e\u0301", "é"),  # decomposed accents are composed into the Latin-1 letter
    ],
)
def test_text_outside_latin1_is_respelled(value: str, expected: str) -> None:
    assert to_latin1(value) == (expected, True)


@pytest.mark.parametrize("value", ["Café Müller, España, Straße © 20 °C", "line\nnext\r\n\ttab", ""])
def test_latin1_text_is_left_alone(value: str) -> None:
    assert to_latin1(value) == (value, False)


def test_every_latin1_character_is_answered_as_one_at_a_time() -> None:
    """The whole-string check that lets usual text through at once agrees, character by character, with the rule
    applied to each (Latin-1 safe and unchanged by NFC), for every Latin-1 character and beyond."""
    for code in range(0x180):
        char = chr(code)
        kept = is_latin1_safe(char) and unicodedata.normalize("NFC", char) == char
        assert (to_latin1(char) == (char, False)) is kept, hex(code)
        assert (to_latin1(f"abc{char}def") == (f"abc{char}def", False)) is kept, hex(code)


def test_result_always_encodes_as_latin1() -> None:
    every = "".join(chr(c) for c in range(0x20, 0x3000) if not 0xD800 <= c <= 0xDFFF)
    safe, changed = to_latin1(every)
    assert changed
    safe.encode("iso-8859-1")


# --- make_safe: text --------------------------------------------------------------------------


def test_free_text_is_respelled_and_cut_with_a_warning_for_what_was_lost() -> None:
    request = _sales_order(
        E.ShipAddress(E.Addr1("ul. Piotrkowska 1"), E.Note("N" * 50)),
        E.Memo("Rush \u2013 see note \u5317"),
    )
    warnings = make_safe(request, (13, 0))

    assert request.findtext("SalesOrderAdd/ShipAddress/Note") == "N" * 41
    assert request.findtext("SalesOrderAdd/Memo") == "Rush - see note ?"
    assert request.findtext("SalesOrderAdd/ShipAddress/Addr1") == "ul. Piotrkowska 1"
    by_path = {w.path: w.message for w in warnings}
    assert len(warnings) == 2
    note = "SalesOrderAddRq/SalesOrderAdd/ShipAddress/Note"
    assert by_path[note] == f"{note}: 50 characters cut to the maximum of 41"
    # the warning lists what was lost ("?"), not what was respelled ("–" -> "-")
    assert by_path["SalesOrderAddRq/SalesOrderAdd/Memo"].endswith("replaced by '?': '\u5317'")


def test_names_quickbooks_cannot_store_are_refused_naming_the_characters() -> None:
    """Two customers named in Chinese both became "????" and the second linked to the first: never again."""
    for name in ("\u5317\u4eac\u673a\u68b0", "\u4e0a\u6d77\u5de5\u5382", "\u0141\u00f3d\u017a Tools"):
        request = E.CustomerAddRq(E.CustomerAdd(E.Name(name)))
        before = etree.tostring(request)
        with pytest.raises(NotWritable) as refused:
            make_safe(request, (13, 0))
        assert etree.tostring(request) == before
        (value,) = refused.value.values
        assert value.path == "CustomerAddRq/CustomerAdd/Name" and value.value == name
        assert all(f"(U+{ord(c):04X})" in str(refused.value) for c in value.characters)
    with pytest.raises(NotWritable, match="CustomerRef/FullName 'Lodz \u20ac Tools' holds '\u20ac'"):
        make_safe(E.SalesOrderAddRq(E.SalesOrderAdd(E.CustomerRef(E.FullName("Lodz \u20ac Tools")))), (13, 0))


def test_transliterate_names_sends_a_readable_spelling_but_never_a_question_mark() -> None:
    request = E.CustomerAddRq(E.CustomerAdd(E.Name("\u0141\u00f3d\u017a Tools")))
    warnings = make_safe(request, (13, 0), transliterate_names=True)
    assert request.findtext("CustomerAdd/Name") == "L\u00f3dz Tools"
    assert [w.message for w in warnings] == [
        "CustomerAddRq/CustomerAdd/Name: '\u0141\u00f3d\u017a Tools' sent as 'L\u00f3dz Tools' (transliterate_names)"]
    chinese = E.CustomerAddRq(E.CustomerAdd(E.Name("\u5317\u4eac\u673a\u68b0")))
    with pytest.raises(NotWritable) as refused:
        make_safe(chinese, (13, 0), transliterate_names=True)
    assert refused.value.values[0].characters == ("\u5317", "\u4eac", "\u673a", "\u68b0")


def test_length_is_counted_after_respelling() -> None:
    # "€" becomes "EUR": 39 characters grow to 41, still within the maximum.
    request = E.CustomerAddRq(E.CustomerAdd(E.Name("x" * 38 + "\u20ac")))
    warnings = make_safe(request, (13, 0), transliterate_names=True)
    assert request.findtext("CustomerAdd/Name") == "x" * 38 + "EUR"
    assert [w.message.endswith("(transliterate_names)") for w in warnings] == [True]


def test_unknown_paths_and_clean_requests_pass_unchanged() -> None:
    request = E.CustomerQueryRq(E.FullName("y" * 500), E.MaxReturned("10"))
    before = etree.tostring(request)
    assert make_safe(request, (13, 0)) == []
    assert etree.tostring(request) == before
    unknown = E.SomethingNewRq(E.Whatever("z" * 5000))
    assert make_safe(unknown, (2, 0)) == []
    assert unknown.findtext("Whatever") == "z" * 5000


def test_path_is_built_from_the_request_down_without_namespaces() -> None:
    request = etree.Element("{urn:x}CustomerAddRq")
    name = etree.SubElement(etree.SubElement(request, "{urn:x}CustomerAdd"), "Name")
    assert element_path(name, request) == "CustomerAddRq/CustomerAdd/Name"
    with pytest.raises(ValueError, match="not inside"):
        element_path(request, name)


# --- make_safe: what is never cut -------------------------------------------------------------


def _too_long(request: etree._Element) -> tuple[TooLong, ...]:
    before = etree.tostring(request)
    with pytest.raises(ValueTooLong) as refused:
        make_safe(request, (13, 0))
    assert etree.tostring(request) == before  # left untouched
    assert str(refused.value).startswith("Not sent: only free text")
    return refused.value.values


def test_document_numbers_are_never_cut_so_two_orders_never_share_one() -> None:
    for code in ("SO-2026-000123", "SO-2026-000124"):
        (value,) = _too_long(_sales_order(E.RefNumber(code)))
        assert value == TooLong("SalesOrderAddRq/SalesOrderAdd/RefNumber", code, 11)
        assert value.describe() == f"SalesOrderAddRq/SalesOrderAdd/RefNumber {code!r} has 14 characters, " \
                                   "QuickBooks allows 11"
    fits = _sales_order(E.RefNumber("SO-2026-001"))  # 11 characters
    make_safe(fits, (13, 0))
    assert fits.findtext("SalesOrderAdd/RefNumber") == "SO-2026-001"


def test_a_reference_is_never_cut_to_name_another_entry() -> None:
    payroll = "Regular Pay - Second Shift Overtime"  # 35 characters; payroll items have 31
    request = E.TimeTrackingAddRq(E.TimeTrackingAdd(
        E.TxnDate("2026-11-24"), E.EntityRef(E.FullName("Maria Gonzalez")), E.Duration("PT1H"),
        E.PayrollItemWageRef(E.FullName(payroll))))
    (value,) = _too_long(request)
    assert (value.path, value.value, value.limit) == (
        "TimeTrackingAddRq/TimeTrackingAdd/PayrollItemWageRef/FullName", payroll, 31)
    assert value.path in str(ValueTooLong((value,))) and repr(payroll) in str(ValueTooLong((value,)))


@pytest.mark.parametrize(("request_", "path", "limit"), [
    (E.CustomerAddRq(E.CustomerAdd(E.Name("c" * 42))), "CustomerAddRq/CustomerAdd/Name", 41),
    (E.ItemServiceAddRq(E.ItemServiceAdd(E.Name("i" * 32))), "ItemServiceAddRq/ItemServiceAdd/Name", 31),
    (E.EmployeeAddRq(E.EmployeeAdd(E.FirstName("f" * 26))), "EmployeeAddRq/EmployeeAdd/FirstName", 25),
    (E.DataExtAddRq(E.DataExtAdd(E.OwnerID("0"), E.DataExtName("d" * 32))),
     "DataExtAddRq/DataExtAdd/DataExtName", 31),
    # data, not free text: a shortened postal code or city is another place
    (_sales_order(E.ShipAddress(E.PostalCode("1" * 14))), "SalesOrderAddRq/SalesOrderAdd/ShipAddress/PostalCode", 13),
    (_sales_order(E.ShipAddress(E.City("c" * 32))), "SalesOrderAddRq/SalesOrderAdd/ShipAddress/City", 31),
])
def test_names_of_created_entries_and_other_data_are_never_cut(request_: etree._Element, path: str,
                                                                 limit: int) -> None:
    (value,) = _too_long(request_)
    assert (value.path, value.limit, value.part) == (path, limit, None)


def test_free_text_is_cut_with_a_warning() -> None:
    request = E.InvoiceAddRq(E.InvoiceAdd(
        E.CustomerRef(E.FullName("Cascade Robotics")),
        E.BillAddress(E.Addr1("a" * 50), E.Note("n" * 50)),
        E.Memo("m" * 5000),
        E.InvoiceLineAdd(E.ItemRef(E.FullName("Widget")), E.Desc("d" * 5000)),
    ))
    warnings = make_safe(request, (13, 0))
    assert [w.path.rsplit("/", 1)[-1] for w in warnings] == ["Addr1", "Note", "Memo", "Desc"]
    assert [len(request.findtext(f"InvoiceAdd/{p}") or "") for p in (
        "BillAddress/Addr1", "BillAddress/Note", "Memo", "InvoiceLineAdd/Desc")] == [41, 41, 4095, 4095]


def test_each_level_of_a_full_name_has_the_maximum_of_one_name() -> None:
    client = "Northwest Precision Automation Holdings LLC"  # 43: a customer name has 41
    path = "TimeTrackingAddRq/TimeTrackingAdd/CustomerRef/FullName"
    request = E.TimeTrackingAddRq(E.TimeTrackingAdd(E.TxnDate("2026-11-24"), E.EntityRef(E.FullName("Tom Becker")),
                                                    E.CustomerRef(E.FullName(f"{client}:WO-1046"))))
    (value,) = _too_long(request)  # although the whole full name is far below its 209
    assert value == TooLong(path, f"{client}:WO-1046", 41, client)
    assert value.describe().endswith(f"the name level {client!r} has 43 characters, QuickBooks allows 41 per level")
    fits = E.TimeTrackingAddRq(E.TimeTrackingAdd(E.CustomerRef(E.FullName(f"{'c' * 41}:{'j' * 41}"))))
    assert make_safe(fits, (13, 0)) == []


@pytest.mark.parametrize(("path", "total", "level"), [
    ("SalesOrderAddRq/SalesOrderAdd/CustomerRef/FullName", 209, 41),
    ("TimeTrackingAddRq/TimeTrackingAdd/ItemServiceRef/FullName", 159, 31),
    ("InvoiceAddRq/InvoiceAdd/InvoiceLineAdd/ItemRef/FullName", 159, 31),  # not in the spec: items' own
    ("CustomerAddRq/CustomerAdd/ParentRef/FullName", 209, 41),  # not in the spec: a customer's parent
    ("ItemServiceAddRq/ItemServiceAdd/ParentRef/FullName", 159, 31),  # not in the spec: an item's parent
    ("PurchaseOrderAddRq/PurchaseOrderAdd/VendorRef/FullName", 41, None),  # vendors do not nest
])
def test_full_name_limits(path: str, total: int, level: int | None) -> None:
    assert max_length(path) == total
    names = path.split("/")
    request = etree.Element(names[0])
    parent = request
    for name in names[1:]:
        parent = etree.SubElement(parent, name)
    if level is not None:
        parent.text = f"{'p' * level}:{'c' * (level + 1)}"
        (value,) = _too_long(request)
        assert (value.part, value.limit) == ("c" * (level + 1), level)
    parent.text = "x" * (total + 1)
    assert _too_long(request)[0].limit == total


def test_a_list_object_of_any_list_is_held_to_its_whole_maximum_only() -> None:
    request = E.DataExtAddRq(E.DataExtAdd(E.OwnerID("0"), E.DataExtName("Colour"),
                                          E.ListDataExtType("Customer"), E.ListObjRef(E.FullName("c" * 41)),
                                          E.DataExtValue("Red")))
    assert make_safe(request, (13, 0)) == []


def test_every_value_too_long_is_named_at_once_and_nothing_is_cut_meanwhile() -> None:
    request = _sales_order(E.RefNumber("SO-2026-000123"), E.Memo("m" * 5000),
                           line=(E.Other1("o" * 30),))
    values = _too_long(request)
    assert [v.path.rsplit("/", 1)[-1] for v in values] == ["RefNumber", "Other1"]
    assert len(request.findtext("SalesOrderAdd/Memo") or "") == 5000


def test_length_of_a_reference_is_counted_after_respelling() -> None:
    request = E.CustomerAddRq(E.CustomerAdd(E.Name("x" * 39 + "\u20ac")))
    with pytest.raises(ValueTooLong) as refused:
        make_safe(request, (13, 0), transliterate_names=True)
    assert refused.value.values[0].value == "x" * 39 + "EUR"


# --- make_safe: versions and editions ---------------------------------------------------------


def test_external_guid_is_refused_before_9_0_and_allowed_from_it() -> None:
    guid = "{6B29FC40-CA47-1067-B31D-00DD010662DA}"
    with pytest.raises(UnsupportedVersion) as refused:
        make_safe(_sales_order(E.ExternalGUID(guid)), (8, 0))
    assert str(refused.value) == "SalesOrderAddRq/SalesOrderAdd/ExternalGUID needs qbXML 9.0; this company speaks 8.0"
    assert make_safe(_sales_order(E.ExternalGUID(guid)), (9, 0)) == []


def test_children_inherit_the_version_of_their_ancestor() -> None:
    data_ext = E.DataExt(E.OwnerID("0"), E.DataExtName("Colour"), E.DataExtValue("Red"))
    request = _sales_order(line=(E.Quantity("2"), data_ext))
    with pytest.raises(UnsupportedVersion, match=r"SalesOrderLineAdd/DataExt needs qbXML 5\.0"):
        make_safe(request, (4, 0))
    make_safe(request, (5, 0))


def test_the_request_itself_is_checked_and_its_descendants_are_not_named_again() -> None:
    request = _sales_order(E.Other("x"), E.ExternalGUID("{0}"))
    with pytest.raises(UnsupportedVersion) as refused:
        make_safe(request, (2, 0))
    assert str(refused.value) == "SalesOrderAddRq needs qbXML 2.1; this company speaks 2.0"


def test_elements_of_other_editions_are_refused() -> None:
    with pytest.raises(UnsupportedVersion, match="IsTaxIncluded is not available in QuickBooks Desktop US"):
        make_safe(_sales_order(E.IsTaxIncluded("true")), (13, 0))


def test_every_problem_is_named_at_once() -> None:
    request = _sales_order(E.IsTaxIncluded("true"), E.Other("x"), E.ExternalGUID("{0}"))
    with pytest.raises(UnsupportedVersion) as refused:
        make_safe(request, (5, 0))
    message = str(refused.value)
    assert "IsTaxIncluded is not available" in message
    assert "SalesOrderAdd/Other needs qbXML 6.0" in message
    assert "ExternalGUID needs qbXML 9.0" in message
    assert message.endswith("; this company speaks 5.0")


@pytest.mark.parametrize("attribute", ["iterator", "iteratorID"])
def test_iterators_need_5_0(attribute: str) -> None:
    query = E.InvoiceQueryRq(E.MaxReturned("50"))
    query.set(attribute, "Start" if attribute == "iterator" else "{1}")
    with pytest.raises(UnsupportedVersion, match=rf"InvoiceQueryRq/@{attribute} needs qbXML 5\.0"):
        make_safe(query, (4, 0))
    assert make_safe(query, (5, 0)) == []


def test_attribute_values_quickbooks_cannot_store_are_refused() -> None:
    query = E.CustomerQueryRq(E.MaxReturned("1"), iterator="Continue", iteratorID="{caf\u00e9\u2013\u0142}")
    with pytest.raises(NotWritable) as refused:
        make_safe(query, (13, 0))
    assert [(v.path, v.characters) for v in refused.value.values] == [
        ("CustomerQueryRq/@iteratorID", ("\u2013", "\u0142"))]


# --- the result is valid qbXML ----------------------------------------------------------------


def test_made_safe_request_validates_against_the_schema(qbxml_schema_130: etree.XMLSchema) -> None:
    request = _sales_order(
        E.RefNumber("SO-24-0123"),
        E.ShipAddress(E.Addr1("Zakład “Północ” – Łódź, ulica Piotrkowska 104"), E.City("Łódź"), E.Note("n" * 60)),
        E.Memo("Ordered via portal\u2026 \U0001f4e6"),
        line=(E.Desc("Bolt \u2014 M8\u00d730" + "d" * 5000), E.Quantity("2"), E.Other1("o" * 29)),
    )
    warnings = make_safe(request, (13, 0), transliterate_names=True)

    assert {w.path.rsplit("/", 1)[-1] for w in warnings} >= {"Note", "Addr1", "City", "Desc", "Memo"}
    assert all(isinstance(w, TextWarning) for w in warnings)
    text = build_message_set([Request("1", request)], (13, 0))
    qbxml_schema_130.assertValid(etree.fromstring(text.encode("utf-8")))
    text.encode("iso-8859-1")
