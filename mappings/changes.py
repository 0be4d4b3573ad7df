"""A document QuickBooks holds already, changed: its add turned into the ``*ModRq`` that brings it to the same
content (sales orders and purchase orders, while nothing has been invoiced or received against them).

The Mod names the document (``TxnID``) and the ``EditSequence`` last read; each line carries the TxnLineID of
the QuickBooks line it changes, or ``-1`` for a new line. As in QuickBooks, once a Mod carries lines, the
stored lines it does not name are deleted: the order ends with exactly the Fusion order's lines. The
``ExternalGUID`` of the add is not part of a Mod (it stays as it was).
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from mappings.errors import MappingError

NEW_LINE = "-1"
_NOT_IN_MOD = frozenset({"ExternalGUID", "LinkToTxnID"})


def as_mod(add_request: etree._Element, txn_id: str, edit_sequence: str,
           line_txn_ids: Sequence[str | None]) -> etree._Element:
    """``XxxAddRq`` -> ``XxxModRq``; ``line_txn_ids`` gives, line by line, the QuickBooks line each add line
    becomes (None: a new line)."""
    name = str(add_request.tag)
    if not name.endswith("AddRq") or len(add_request) != 1:
        raise MappingError(f"{name} is not an add request of one document")
    kind = name[: -len("AddRq")]
    add = add_request[0]
    mod = etree.Element(f"{kind}Mod")
    etree.SubElement(mod, "TxnID").text = txn_id
    etree.SubElement(mod, "EditSequence").text = edit_sequence
    lines = iter(line_txn_ids)
    for child in add:
        tag = str(child.tag)
        if tag in _NOT_IN_MOD:
            continue
        if tag == f"{kind}LineAdd":
            line = etree.SubElement(mod, f"{kind}LineMod")
            etree.SubElement(line, "TxnLineID").text = next(lines, None) or NEW_LINE
            for part in child:
                line.append(etree.fromstring(etree.tostring(part)))
            continue
        mod.append(etree.fromstring(etree.tostring(child)))
    request = etree.Element(f"{kind}ModRq")
    request.append(mod)
    return request


# ---------------------------------------------------------------- closing an order's lines


def closing_lines(order_ret: etree._Element, close: bool) -> tuple[list[str], list[str]]:
    """Of a ``SalesOrderRet`` read with its lines: the TxnLineIDs a close (or a reopen) changes, and those it
    leaves as they are. Closing marks the open lines that are not fully invoiced; reopening clears the mark of
    the closed ones that are not fully invoiced; a fully invoiced line is never touched."""
    change: list[str] = []
    keep: list[str] = []
    for line in order_ret.findall("SalesOrderLineRet"):
        line_id = line.findtext("TxnLineID") or ""
        closed = (line.findtext("IsManuallyClosed") or "false").strip().lower() == "true"
        (change if closed != close and not _fully_invoiced(line) else keep).append(line_id)
    return change, keep


def _fully_invoiced(line: etree._Element) -> bool:
    quantity, invoiced = _number(line.findtext("Quantity")), _number(line.findtext("Invoiced"))
    return quantity is not None and invoiced is not None and invoiced >= quantity


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None and text.strip() else None
    except ValueError:
        return None


def build_closing_mod(order_ret: etree._Element, txn_id: str, edit_sequence: str, close: bool) -> etree._Element:
    """The ``SalesOrderModRq`` that closes (or reopens) the order's lines :func:`closing_lines` names. Every other
    line (and line group) is named by its TxnLineID alone, so QuickBooks keeps it as it is; a reopen also clears
    the order's own mark."""
    change, _keep = closing_lines(order_ret, close)
    request = etree.Element("SalesOrderModRq")
    mod = etree.SubElement(request, "SalesOrderMod")
    etree.SubElement(mod, "TxnID").text = txn_id
    etree.SubElement(mod, "EditSequence").text = edit_sequence
    if not close and (order_ret.findtext("IsManuallyClosed") or "").strip().lower() == "true":
        etree.SubElement(mod, "IsManuallyClosed").text = "false"
    for child in order_ret:
        if child.tag == "SalesOrderLineRet":
            line = etree.SubElement(mod, "SalesOrderLineMod")
            line_id = child.findtext("TxnLineID") or ""
            etree.SubElement(line, "TxnLineID").text = line_id
            if line_id in change:
                etree.SubElement(line, "IsManuallyClosed").text = "true" if close else "false"
        elif child.tag == "SalesOrderLineGroupRet":
            group = etree.SubElement(mod, "SalesOrderLineGroupMod")
            etree.SubElement(group, "TxnLineID").text = child.findtext("TxnLineID") or ""
    return request
