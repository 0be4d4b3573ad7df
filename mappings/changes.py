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
