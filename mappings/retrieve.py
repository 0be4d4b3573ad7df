"""QuickBooks documents into Fusion Operations (SPEC.md section 3): a ``SalesOrderRet``, ``InvoiceRet`` or
``EstimateRet`` becomes a Fusion sales order, a ``PurchaseOrderRet`` a Fusion purchase order. Pure functions:
a QuickBooks ``*Ret`` element and the connection's options in, a Fusion create body (v2, camelCase) out, or the
reason the document is not imported.

What the Fusion body holds (field names per ``../shared/reference/FUSION-API.md``; [G] where guessed):

- ``code``: the QuickBooks RefNumber (the TxnID when there is none); invoices and estimates share Fusion's
  sales orders with QuickBooks' sales orders, so theirs carry a prefix (:data:`CODE_PREFIX`): ``INV-1042``.
- ``client`` {``code``}: the QuickBooks customer, the top of its full name (a job ``Client:Job`` names its
  client); ``supplier`` {``code``} for purchase orders, the vendor's name [G].
- ``documentDate`` (TxnDate) and ``dueDate`` (ShipDate; a purchase order's ExpectedDate) [G].
- ``products``: one line per QuickBooks item line (lines inside groups included; lines without an item, such as
  subtotals and comments, are left out): {``product`` {``code``}, ``quantity``, ``unitPrice``,
  ``observations``} [G], the product code being the item's full name, or its last part with
  ``ignore_category_names``.
- ``notes``: the memo, and on a line of its own the document's **marker** ``[qbd:<Entity>:<TxnID>]`` [G]: a
  create whose answer was lost is found again by its code and this marker before anything is created twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from mappings.options import RetrieveOptions, RetrieveType

SALES_ORDERS = "sales-orders"
PURCHASE_ORDERS = "purchase-orders"


@dataclass(frozen=True)
class DocumentType:
    entity: str  # the QuickBooks name (SalesOrder)
    option: RetrieveType  # its name in retrieve.types
    collection: str  # the Fusion collection it becomes
    line_tag: str
    party: str  # CustomerRef or VendorRef
    due: str  # the QuickBooks date that becomes dueDate
    label: str  # for messages


DOCUMENTS: dict[str, DocumentType] = {
    "SalesOrder": DocumentType("SalesOrder", "sales_order", SALES_ORDERS, "SalesOrderLineRet", "CustomerRef",
                               "ShipDate", "sales order"),
    "Invoice": DocumentType("Invoice", "invoice", SALES_ORDERS, "InvoiceLineRet", "CustomerRef", "ShipDate",
                            "invoice"),
    "Estimate": DocumentType("Estimate", "estimate", SALES_ORDERS, "EstimateLineRet", "CustomerRef", "DueDate",
                             "estimate"),
    "PurchaseOrder": DocumentType("PurchaseOrder", "purchase_order", PURCHASE_ORDERS, "PurchaseOrderLineRet",
                                  "VendorRef", "ExpectedDate", "purchase order"),
}
CODE_PREFIX = {"SalesOrder": "", "PurchaseOrder": "", "Invoice": "INV-", "Estimate": "EST-"}
VOID_MEMO = re.compile(r"^\s*VOID\s*:", re.IGNORECASE)  # QuickBooks prefixes a voided transaction's memo
FROM_FUSION = re.compile(r"\[fusion:[a-z_]+:[^\]]+\]")  # the marker of a document the send flows wrote


class NotRetrievable(ValueError):
    """A document that cannot become a Fusion order as it is (no customer, say); ``field`` names what."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ProductNeed:
    """A Fusion product the order names: it must exist, or be created first (``create_missing_products``)."""

    code: str
    name: str


@dataclass(frozen=True)
class FusionOrder:
    """What a QuickBooks document becomes in Fusion."""

    entity: str
    txn_id: str
    collection: str
    code: str
    marker: str
    body: dict[str, Any]
    products: tuple[ProductNeed, ...]
    custom_fields: dict[str, str] = field(default_factory=dict)

    @property
    def update(self) -> dict[str, Any]:
        """The body of a change to the order already imported (a JSON merge patch): everything but its code and
        its client or supplier, which stay as imported."""
        return {k: v for k, v in self.body.items() if k not in ("code", "client", "supplier")}


def document_type(ret: etree._Element) -> DocumentType | None:
    tag = str(ret.tag)
    return DOCUMENTS.get(tag.removesuffix("Ret")) if tag.endswith("Ret") else None


def marker_of(entity: str, txn_id: str) -> str:
    return f"[qbd:{entity}:{txn_id}]"


def has_marker(notes: object, entity: str, txn_id: str) -> bool:
    return isinstance(notes, str) and marker_of(entity, txn_id) in notes


def skip_reason(ret: etree._Element, options: RetrieveOptions) -> str | None:
    """Why this document is not imported into Fusion, or None when it is."""
    kind = document_type(ret)
    if kind is None:
        return f"QuickBooks {str(ret.tag).removesuffix('Ret')} records are not imported into Fusion"
    if kind.option not in options.types:
        return f"{kind.label}s are not retrieved (retrieve.types: {', '.join(options.types)})"
    memo = ret.findtext("Memo") or ""
    if is_voided(ret):
        return f"the {kind.label} is voided in QuickBooks"
    if options.skip_manually_closed and ret.findtext("IsManuallyClosed") == "true":
        return f"the {kind.label} is closed manually in QuickBooks (retrieve.skip_manually_closed)"
    found = FROM_FUSION.search(memo) or FROM_FUSION.search(ret.findtext("Other") or "")
    if found:
        return f"the {kind.label} was sent from Fusion (its memo carries {found.group(0)})"
    return None


def is_voided(ret: etree._Element) -> bool:
    """QuickBooks Desktop keeps a voided transaction with every amount zero and ``VOID:`` before its memo (its
    qbXML has no IsVoided flag: see the 13.0 and 16.0 schemas)."""
    if not VOID_MEMO.match(ret.findtext("Memo") or ""):
        return False
    totals = [ret.findtext(tag) for tag in ("TotalAmount", "Subtotal", "AppliedAmount", "BalanceRemaining")]
    amounts = [line.findtext("Amount") for line in _lines(ret, _line_tag(ret))]
    return all(_decimal(value) in (None, Decimal(0)) for value in (*totals, *amounts))


def product_code(item_full_name: str, options: RetrieveOptions) -> str:
    """The Fusion product code of a QuickBooks item: its full name, or its last part (``ignore_category_names``)."""
    return item_full_name.split(":")[-1] if options.ignore_category_names else item_full_name


def build_order(ret: etree._Element, options: RetrieveOptions) -> FusionOrder:
    """The Fusion create body of a document ``skip_reason`` lets through."""
    kind = document_type(ret)
    if kind is None:
        raise NotRetrievable(f"{ret.tag} does not become a Fusion order", "tag")
    txn_id = _required(ret, "TxnID", kind)
    party = ret.findtext(f"{kind.party}/FullName")
    if not party:
        raise NotRetrievable(f"the {kind.label} {txn_id} names no {kind.party[:-3].lower()}", kind.party)
    code = CODE_PREFIX[kind.entity] + (ret.findtext("RefNumber") or txn_id)
    marker = marker_of(kind.entity, txn_id)
    body: dict[str, Any] = {"code": code}
    if kind.collection == SALES_ORDERS:
        body["client"] = {"code": party.split(":")[0]}
    else:
        body["supplier"] = {"code": party}
    for qbd, fusion in (("TxnDate", "documentDate"), (kind.due, "dueDate")):
        if ret.findtext(qbd):
            body[fusion] = ret.findtext(qbd)
    lines: list[dict[str, Any]] = []
    needs: dict[str, ProductNeed] = {}
    for line in _lines(ret, kind.line_tag):
        item = line.findtext("ItemRef/FullName")
        if not item:
            continue
        product = product_code(item, options)
        needs.setdefault(product, ProductNeed(product, item))
        quantity = _decimal(line.findtext("Quantity"))
        rate = _decimal(line.findtext("Rate"))
        amount = _decimal(line.findtext("Amount"))
        if quantity is None:  # an amount-only line: one of it, at its amount
            quantity, rate = Decimal(1), rate if rate is not None else amount
        made: dict[str, Any] = {"product": {"code": product}, "quantity": _number(quantity)}
        if rate is not None:
            made["unitPrice"] = _number(rate)
        if line.findtext("Desc"):
            made["observations"] = line.findtext("Desc")
        lines.append(made)
    body["products"] = lines
    memo = ret.findtext("Memo")
    body["notes"] = f"{memo}\n{marker}" if memo else marker
    return FusionOrder(kind.entity, txn_id, kind.collection, code, marker, body, tuple(needs.values()),
                       custom_fields(ret, options))


def custom_fields(ret: etree._Element, options: RetrieveOptions) -> dict[str, str]:
    """The Fusion custom fields the document's public QuickBooks custom fields (DataExt, OwnerID 0) fill, per
    ``retrieve.custom_fields``; a field without a value in QuickBooks is left alone."""
    values = {(d.findtext("DataExtName") or ""): d.findtext("DataExtValue") or ""
              for d in ret.findall("DataExtRet") if (d.findtext("OwnerID") or "0") == "0"}
    return {pair.fusion_field: values[pair.qbd_field] for pair in options.custom_fields
            if values.get(pair.qbd_field)}


def product_body(need: ProductNeed) -> dict[str, Any]:
    """A Fusion product made for a QuickBooks item it lacks [G: code and name]."""
    return {"code": need.code, "name": need.name}


def _line_tag(ret: etree._Element) -> str:
    kind = document_type(ret)
    return kind.line_tag if kind is not None else ""


def _lines(ret: etree._Element, line_tag: str) -> list[etree._Element]:
    """The item lines, those inside line groups included, in order."""
    group_tag = line_tag.replace("LineRet", "LineGroupRet")
    found: list[etree._Element] = []
    for child in ret:
        if child.tag == line_tag:
            found.append(child)
        elif child.tag == group_tag:
            found.extend(child.findall(line_tag))
    return found


def _required(ret: etree._Element, tag: str, kind: DocumentType) -> str:
    value = ret.findtext(tag)
    if not value:
        raise NotRetrievable(f"the {kind.label} has no {tag}", tag)
    return value


def _decimal(text: str | None) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


def _number(value: Decimal) -> int | float:
    """A JSON number: an integer when the value is whole (``10``), else the decimal's float (``0.5``)."""
    return int(value) if value == value.to_integral_value() else float(value)
