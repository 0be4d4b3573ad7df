"""Generate qbwc_service/qbxml/_limits_data.py from Intuit's annotated qbXML spec.

Usage (from the project root):

    python tools/gen_qbxml_limits.py ../shared/qbxml/reference/qbxmlops130.xml

The annotated spec is sample XML in which each element is followed, on the same line, by a
comment such as ``<!-- opt, max length = 41 for QBD|QBCA|QBUK|QBAU, v6.0 -->``. For every
request element (``*Rq`` under a ``*MsgsRq`` message set) this script records, keyed by the
element path from the request down (``SalesOrderAddRq/SalesOrderAdd/ShipAddress/Note``):

- the maximum length for QuickBooks Desktop US (QBD): clauses naming QBD, or naming no edition;
- the qbXML version in which the element appeared (``vX.Y``), also from ``<!-- vX.Y, BEGIN OR ... -->``
  group comments, which apply to every element of the group;
- whether the element is ``not in QBD``.

Clauses the script does not know make it stop, so a changed spec cannot be half-read.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

OUTPUT = Path(__file__).resolve().parents[1] / "qbwc_service" / "qbxml" / "_limits_data.py"
COMMAND = "python tools/gen_qbxml_limits.py ../shared/qbxml/reference/{name}"
US_DESKTOP = "QBD"

_MAX_LENGTH = re.compile(r"max length = (\d+)(?: for ([A-Z|]+))?")
_NOT_IN = re.compile(r"not in ([A-Z|]+)")
_VERSION = re.compile(r"v(\d+)\.(\d+)")
_IGNORED = re.compile(r"opt|may rep|rep \(\d+ or more\)|may be macro value|min value = [\d.]+|max value = [\d.]+")
_BEGIN_OR = "BEGIN OR"
_END_OR = "END OR"


class SpecError(Exception):
    """The annotated spec says something this script does not understand."""


@dataclass(frozen=True)
class Note:
    """What one annotation comment says about QuickBooks Desktop US."""

    max_length: int | None = None
    since: tuple[int, int] | None = None
    not_in_qbd: bool = False


@dataclass
class Tables:
    max_length: dict[str, int] = field(default_factory=dict)
    since: dict[str, tuple[int, int]] = field(default_factory=dict)
    not_in_qbd: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)

    def record(self, path: str, note: Note) -> None:
        if path in self.paths:
            raise SpecError(f"element path {path} appears twice")
        self.paths.add(path)
        if note.max_length is not None:
            self.max_length[path] = note.max_length
        if note.since is not None:
            self.since[path] = note.since
        if note.not_in_qbd:
            self.not_in_qbd.add(path)


def parse_note(text: str) -> Note:
    """Read one annotation such as 'opt, max length = 3 for QBD|QBCA|QBUK, max length = 6 for QBAU, v6.0'."""
    max_length: int | None = None
    since: tuple[int, int] | None = None
    not_in_qbd = False
    for raw in text.split(","):
        clause = raw.strip()
        if not clause:
            continue
        if m := _MAX_LENGTH.fullmatch(clause):
            editions = m.group(2)
            if editions is None or US_DESKTOP in editions.split("|"):
                length = int(m.group(1))
                max_length = length if max_length is None else min(max_length, length)
        elif m := _NOT_IN.fullmatch(clause):
            not_in_qbd = not_in_qbd or US_DESKTOP in m.group(1).split("|")
        elif m := _VERSION.fullmatch(clause):
            since = (int(m.group(1)), int(m.group(2)))
        elif not _IGNORED.fullmatch(clause):
            raise SpecError(f"unknown clause {clause!r} in annotation {text!r}")
    return Note(max_length=max_length, since=since, not_in_qbd=not_in_qbd)


def _is_same_line(whitespace: str | None) -> bool:
    return "\n" not in (whitespace or "")


def _own_note(element: etree._Element) -> Note:
    """The annotation on the element's own line: after its start tag, or after the element itself."""
    children = list(element)
    if children and isinstance(children[0], etree._Comment) and _is_same_line(element.text):
        return _checked_note(children[0])
    following = element.getnext()
    if isinstance(following, etree._Comment) and _is_same_line(element.tail):
        return _checked_note(following)
    return Note()


def _checked_note(comment: etree._Element) -> Note:
    text = (comment.text or "").strip()
    if _BEGIN_OR in text or text in ("OR", _END_OR):
        raise SpecError(f"group comment on an element's line, line {comment.sourceline}: {text!r}")
    return parse_note(text)


def _group_since(comment: etree._Element) -> tuple[int, int] | None:
    """The version in a '<!-- v11.0, BEGIN OR: ... -->' comment, or None for a plain one."""
    text = (comment.text or "").strip()
    prefix = text.partition(_BEGIN_OR)[0]
    return parse_note(prefix).since


def _walk(element: etree._Element, path: str, inherited: Sequence[tuple[int, int]]) -> Iterator[tuple[str, Note]]:
    """Yield (path, note) for the element and its descendants; group versions are folded in."""
    note = _own_note(element)
    if inherited:
        group = max(inherited)
        since = group if note.since is None else max(group, note.since)
        note = Note(max_length=note.max_length, since=since, not_in_qbd=note.not_in_qbd)
    yield path, note
    groups: list[tuple[int, int] | None] = []
    for child in element:
        if isinstance(child, etree._Comment):
            text = (child.text or "").strip()
            if _BEGIN_OR in text:
                groups.append(_group_since(child))
            elif text == _END_OR:
                if not groups:
                    raise SpecError(f"END OR without BEGIN OR at line {child.sourceline}")
                groups.pop()
            continue
        if not isinstance(child.tag, str):
            continue
        active = [v for v in groups if v is not None]
        yield from _walk(child, f"{path}/{child.tag}", active)
    if groups:
        raise SpecError(f"BEGIN OR without END OR inside <{element.tag}> at line {element.sourceline}")


def requests(root: etree._Element) -> Iterator[etree._Element]:
    """The request elements of every request message set (QBXMLMsgsRq, QBXMLSubscriptionMsgsRq)."""
    for message_set in root:
        if isinstance(message_set.tag, str) and message_set.tag.endswith("MsgsRq"):
            for request in message_set:
                if isinstance(request.tag, str) and request.tag.endswith("Rq"):
                    yield request


def collect(spec: Path) -> Tables:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    root = etree.parse(str(spec), parser).getroot()
    tables = Tables()
    for request in requests(root):
        for path, note in _walk(request, request.tag, ()):
            tables.record(path, note)
    if not tables.paths:
        raise SpecError(f"no request elements found in {spec}")
    return tables


def render(tables: Tables, spec: Path) -> str:
    digest = hashlib.sha256(spec.read_bytes()).hexdigest()
    lines = [
        '"""Limits of qbXML request elements for QuickBooks Desktop US, generated from Intuit\'s',
        f"annotated qbXML 13.0 spec ({spec.name}, sha256 {digest[:16]}) by:",
        "",
        f"    {COMMAND.format(name=spec.name)}",
        "",
        "Do not edit by hand; change tools/gen_qbxml_limits.py and run it again.",
        "",
        "Keys are element paths from the request element down. MAX_LENGTH: the longest text QuickBooks",
        "Desktop US accepts. SINCE: the qbXML version in which the element appeared (descendants inherit",
        "it). NOT_IN_QBD: elements QuickBooks Desktop US does not have (CA/UK/AU/Online only).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "# Generated tables: one entry a line, however long the path.",
        "# ruff: noqa: E501",
        "# fmt: off",
        "",
        "MAX_LENGTH: dict[str, int] = {",
    ]
    lines += [f'    "{path}": {length},' for path, length in sorted(tables.max_length.items())]
    lines += ["}", "", "SINCE: dict[str, tuple[int, int]] = {"]
    lines += [f'    "{path}": ({v[0]}, {v[1]}),' for path, v in sorted(tables.since.items())]
    lines += ["}", "", "NOT_IN_QBD: frozenset[str] = frozenset(", "    {"]
    lines += [f'        "{path}",' for path in sorted(tables.not_in_qbd)]
    lines += ["    }", ")", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("spec", type=Path, help="Intuit's annotated qbxmlops130.xml")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"default: {OUTPUT}")
    args = parser.parse_args(argv)
    try:
        tables = collect(args.spec)
    except (OSError, etree.XMLSyntaxError, SpecError) as exc:
        sys.stderr.write(f"gen_qbxml_limits: {exc}\n")
        return 1
    args.output.write_text(render(tables, args.spec), encoding="utf-8")
    sys.stdout.write(
        f"{args.output}: {len(tables.max_length)} max lengths, {len(tables.since)} versions, "
        f"{len(tables.not_in_qbd)} not in QBD\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
