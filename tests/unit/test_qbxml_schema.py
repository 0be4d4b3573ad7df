"""The schema gate: Intuit's schema ships with the service, and judges each request by the company's version."""

from __future__ import annotations

import copy
import hashlib
import shutil
from pathlib import Path

import pytest
from lxml import etree
from lxml.builder import E

from qbwc_service.qbxml.errors import SchemaUnavailable
from qbwc_service.qbxml.schema import (
    PACKAGED_SCHEMA_DIR,
    SCHEMA_130,
    SCHEMA_160,
    RequestValidator,
    load_schema,
    request_validator,
)
from qbwc_service.qbxml.versions import Version

WRONG_ORDER = E.CustomerAddRq(E.CustomerAdd(E.IsActive("true"), E.Name("Wrong Order")))
# EmployeeDefaultQueryRq is new in qbXML 14.0-16.0: qbxmlops160.xsd has it, qbxmlops130.xsd has not.
NEWER_THAN_13 = E.EmployeeDefaultQueryRq()


def _time_entry(flag: etree._Element) -> etree._Element:
    request: etree._Element = E.TimeTrackingAddRq(E.TimeTrackingAdd(
        E.TxnDate("2026-03-12"), E.EntityRef(E.FullName("Alice Martin")), E.CustomerRef(E.FullName("WO-1")),
        E.Duration("PT1H0M0S"), E.Notes("[fusion:time_tracking:1]"), flag,
    ))
    return request


def test_the_packaged_schema_is_intuits_byte_for_byte() -> None:
    sums = (PACKAGED_SCHEMA_DIR / "SHA256SUMS").read_text(encoding="ascii").split("\n")
    expected = {name: digest for digest, name in (line.split() for line in sums if line.strip())}
    assert {SCHEMA_130, SCHEMA_160, "qbxml130.xsd", "qbxmlso130.xsd", "qbxmltypes130.xsd"} <= set(expected)
    assert sorted(path.name for path in PACKAGED_SCHEMA_DIR.glob("*.xsd")) == sorted(expected)
    for name, digest in expected.items():
        assert hashlib.sha256((PACKAGED_SCHEMA_DIR / name).read_bytes()).hexdigest() == digest, name


def test_the_gate_is_on_by_default_with_the_packaged_schema_and_can_be_turned_off() -> None:
    gate = request_validator(None, enabled=True)
    assert gate is not None and gate.schema_file((16, 0)).parent == PACKAGED_SCHEMA_DIR
    assert request_validator(None, enabled=False) is None
    assert request_validator(PACKAGED_SCHEMA_DIR, enabled=False) is None


def test_each_schema_file_is_parsed_once_per_process(qbxml_schema_130: etree.XMLSchema) -> None:
    assert load_schema(PACKAGED_SCHEMA_DIR / SCHEMA_130) is qbxml_schema_130
    assert load_schema(PACKAGED_SCHEMA_DIR / ".." / "xsd" / SCHEMA_130) is qbxml_schema_130


@pytest.mark.parametrize(("version", "expected"), [
    ((1, 0), SCHEMA_130), ((5, 0), SCHEMA_130), ((12, 0), SCHEMA_130), ((13, 0), SCHEMA_130),
    ((14, 0), SCHEMA_160), ((15, 0), SCHEMA_160), ((16, 0), SCHEMA_160),
])
def test_the_company_version_chooses_the_schema(schema_gate: RequestValidator, version: Version, expected: str) -> None:
    assert schema_gate.schema_file(version).name == expected


@pytest.mark.parametrize("version", [(2, 0), (5, 0), (13, 0), (16, 0)])
def test_a_broken_request_is_refused_at_every_version(schema_gate: RequestValidator, version: Version) -> None:
    good = E.CustomerAddRq(E.CustomerAdd(E.Name("Right")))
    problems = schema_gate.problems([good, copy.deepcopy(WRONG_ORDER), E.CustomerAddRq(E.CustomerAdd())], version)
    assert problems[0] is None
    assert problems[1] is not None and "IsActive" in problems[1]
    assert problems[2] is not None and "Missing child element" in problems[2]


def test_a_request_newer_than_13_0_passes_only_for_a_newer_company(schema_gate: RequestValidator) -> None:
    assert schema_gate.problems([NEWER_THAN_13], (16, 0)) == [None]
    assert schema_gate.problems([NEWER_THAN_13], (14, 0)) == [None]
    (problem,) = schema_gate.problems([NEWER_THAN_13], (13, 0))
    assert problem is not None and "EmployeeDefaultQueryRq" in problem


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (5, 0)])
def test_a_time_entry_before_6_0_has_is_billable_and_passes(schema_gate: RequestValidator, version: Version) -> None:
    request = _time_entry(E.IsBillable("true"))
    sent = etree.tostring(request)
    assert schema_gate.problems([request, _time_entry(E.IsBillable("false"))], version) == [None, None]
    assert etree.tostring(request) == sent  # the request sent is not changed by the check


@pytest.mark.parametrize("version", [(6, 0), (13, 0), (16, 0)])
def test_is_billable_is_refused_from_6_0_on(schema_gate: RequestValidator, version: Version) -> None:
    (problem,) = schema_gate.problems([_time_entry(E.IsBillable("true"))], version)
    assert problem is not None and "IsBillable" in problem
    assert schema_gate.problems([_time_entry(E.BillableStatus("Billable"))], version) == [None]


def test_an_is_billable_that_is_not_a_boolean_is_refused_naming_it(schema_gate: RequestValidator) -> None:
    (problem,) = schema_gate.problems([_time_entry(E.IsBillable("yes"))], (5, 0))
    assert problem is not None and "IsBillable" in problem and "'yes'" in problem


def test_a_broken_time_entry_before_6_0_is_still_refused(schema_gate: RequestValidator) -> None:
    request = _time_entry(E.IsBillable("true"))
    duration = request.find("TimeTrackingAdd/Duration")
    assert duration is not None
    duration.getparent().remove(duration)  # type: ignore[union-attr]
    (problem,) = schema_gate.problems([request], (5, 0))
    assert problem is not None and "Duration" in problem


def test_a_folder_of_ones_own_replaces_the_packaged_schema(tmp_path: Path) -> None:
    for name in ("qbxmlops130.xsd", "qbxml130.xsd", "qbxmlso130.xsd", "qbxmltypes130.xsd"):
        shutil.copy(PACKAGED_SCHEMA_DIR / name, tmp_path / name)
    gate = request_validator(tmp_path, enabled=True)
    assert gate is not None
    assert gate.schema_file((16, 0)) == (tmp_path / SCHEMA_130).resolve()  # the one file there serves every version
    assert gate.problems([copy.deepcopy(WRONG_ORDER)], (16, 0))[0] is not None


def test_a_folder_without_the_schema_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SchemaUnavailable, match=r"qbxmlops130\.xsd"):
        request_validator(tmp_path, enabled=True)
    (tmp_path / SCHEMA_130).write_text("<not-a-schema/>")
    with pytest.raises(SchemaUnavailable, match="cannot load"):
        request_validator(tmp_path, enabled=True)
