"""``TxnVoidRq`` in the simulated company: a voided transaction stays, as in QuickBooks Desktop, with every amount
zero and ``VOID:`` before its memo (qbXML has no IsVoided flag); its effects (stock, the sales order lines it
invoiced) are withdrawn, and it is modified (a new EditSequence and TimeModified), so a pull sees it again."""

from __future__ import annotations

import copy
from datetime import datetime

from lxml import etree

from qbwc_service.simulate import _qb_effects
from qbwc_service.simulate._qb_data_ext import not_found
from qbwc_service.simulate._qb_shapes import SHAPES
from qbwc_service.simulate._qb_store import Record, StatusError, Store, set_text, sort_in_schema_order, touch

VOIDABLE_KINDS: tuple[str, ...] = ("Invoice", "Bill")
"""``TxnVoidType`` values the simulated company voids (QuickBooks voids more kinds; sales orders and estimates
cannot be voided, only closed or deleted)."""

_ZEROED = ("Subtotal", "SalesTaxTotal", "TotalAmount", "BalanceRemaining", "AmountDue", "OpenAmount",
           "TotalAmountInHomeCurrency", "BalanceRemainingInHomeCurrency", "AmountDueInHomeCurrency")


def void_transaction(store: Store, kind: str, txn_id: str, now: datetime) -> tuple[Record, list[etree._Element]]:
    """Void one transaction; the record and the ``TxnVoidRs`` body (TxnVoidType, TxnID, times, RefNumber)."""
    record = store.with_id((kind,), txn_id)
    if record is None:
        raise not_found(txn_id)
    memo = record.text("Memo") or ""
    if memo.startswith("VOID:"):
        raise StatusError(3210, f'The transaction "{record.text("RefNumber") or txn_id}" is voided already.')
    ret = copy.deepcopy(record.element)
    for element in ret.iter(*_ZEROED, "Amount"):
        element.text = "0.00"
    if ret.find("IsPaid") is not None:
        set_text(ret, "IsPaid", "true")
    set_text(ret, "Memo", f"VOID: {memo}".rstrip())
    sort_in_schema_order(ret, SHAPES[kind].ret_tag)
    _qb_effects.withdraw(store, record)
    _qb_effects.unlink_invoice(store, record)
    record.element = ret
    touch(record, now)
    answer = []
    for tag in ("TxnVoidType", "TxnID", "TimeCreated", "TimeModified", "RefNumber"):
        value = kind if tag == "TxnVoidType" else record.text(tag)
        if value:
            element = etree.Element(tag)
            element.text = value
            answer.append(element)
    return record, answer
