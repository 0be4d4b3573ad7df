"""Closing (or reopening) a QuickBooks sales order: the lines not fully invoiced are marked IsManuallyClosed (or
no longer) through a ``SalesOrderModRq``; fully invoiced lines are left as they are.

The job first reads the order (its lines, what each has invoiced, its EditSequence), then sends the Mod that
mappings.changes.build_closing_mod makes of what it read. A stale EditSequence (3200) reads it again. Sending it
twice is harmless (the second finds the lines as the first left them), so a lost answer is simply asked again.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from mappings.changes import build_closing_mod, closing_lines
from qbwc_service import links, queue
from qbwc_service.db.models import Connection, Job
from qbwc_service.errors import InvalidJobPayload, Refusal, Refused
from qbwc_service.kinds.base import Answer, BuildContext, Built, Progress, RequestKind, SettleContext, joined
from qbwc_service.kinds.raw import reads_again
from qbwc_service.qbxml.response import Response
from qbwc_service.queue import PENDING, Enqueued, JobQueue
from qbwc_service.settlements import Continue, Dead, Done, Settlement

CLOSE_ORDER = "sales_order_close"


class ClosingProgress(Progress):
    order_xml: str | None = None  # the order as last read; None: read it (first, or after a stale EditSequence)
    requeries: int = 0


def closing_payload(fusion_id: str, code: str | None, close: bool, reason: str) -> dict[str, Any]:
    return {"fusion_id": fusion_id, "code": code, "close": close, "reason": reason}


class CloseOrderKind(RequestKind[ClosingProgress]):
    name = CLOSE_ORDER
    progress_model = ClosingProgress

    def reads_only(self, payload: dict[str, Any]) -> bool:
        return True  # the same close sent twice leaves the lines as once

    def build(self, job: Job, ctx: BuildContext) -> Built:
        link = links.find(ctx.db, ctx.connection.id, "sales_order", job.payload["fusion_id"])
        if link is None:
            raise InvalidJobPayload(f"sales order {_code(job)} is not in QuickBooks: nothing to close or reopen")
        progress = self.progress(job)
        if progress.order_xml is None:
            query = etree.Element("SalesOrderQueryRq")
            etree.SubElement(query, "TxnID").text = link.qbd_id
            etree.SubElement(query, "IncludeLineItems").text = "true"
            return Built([query], looks_up=True)
        order = etree.fromstring(progress.order_xml)
        return Built([build_closing_mod(order, link.qbd_id, order.findtext("EditSequence") or "",
                                        bool(job.payload["close"]))])

    def settle(self, job: Job, answer: Answer, ctx: SettleContext) -> Settlement:
        progress = self.progress(job)
        if progress.order_xml is not None:
            return super().settle(job, answer, ctx)
        first = answer.responses[0]
        order = first.first_ret() if first.ok else None
        if order is None:
            return Dead(f"Sales order {_code(job)} could not be read from QuickBooks (it may have been deleted): "
                        f"{first.status_message}", first.status_code, joined(answer.responses))
        change, keep = closing_lines(order, bool(job.payload["close"]))
        if not change:
            return Done(result={"TxnID": order.findtext("TxnID"), "lines_changed": 0, "lines_kept": len(keep)},
                        response_xml=joined(answer.responses), status_code=first.status_code,
                        status_message="Nothing to change: every line is already as asked, or fully invoiced.")
        return Continue(f"{len(change)} lines to {'close' if job.payload['close'] else 'reopen'}; sending the change.",
                        progress.model_copy(update={"order_xml": etree.tostring(order, encoding="unicode")}))

    def done(self, job: Job, responses: list[Response], ctx: SettleContext) -> Settlement:
        first = responses[0]
        ret = first.first_ret()
        progress = self.progress(job)
        assert progress.order_xml is not None
        change, keep = closing_lines(etree.fromstring(progress.order_xml), bool(job.payload["close"]))
        if ret is not None:
            link = links.find(ctx.db, ctx.connection.id, "sales_order", job.payload["fusion_id"])
            if link is not None:
                link.edit_sequence = ret.findtext("EditSequence") or link.edit_sequence
        return Done(result={"TxnID": ret.findtext("TxnID") if ret is not None else None,
                            "lines_changed": len(change), "lines_kept": len(keep)},
                    response_xml=joined(responses), status_code=first.status_code,
                    status_message=first.status_message)

    def refused(self, job: Job, decisive: Response, responses: list[Response], ctx: SettleContext) -> Settlement:
        progress = self.progress(job)
        if reads_again(decisive, progress.requeries):
            return Continue(f"{decisive.status_message.strip()} Reading the sales order again first.",
                            progress.model_copy(update={"order_xml": None, "requeries": progress.requeries + 1}))
        return super().refused(job, decisive, responses, ctx)

    def progress_on_retry(self, job: Job) -> Progress | None:
        return self.progress(job).model_copy(update={"order_xml": None})  # read the order again

    def progress_when_lost(self, job: Job) -> Progress | None:
        return self.progress(job).model_copy(update={"order_xml": None})


def _code(job: Job) -> str:
    return repr(job.payload.get("code") or job.payload["fusion_id"])


CLOSE = CloseOrderKind()
KINDS = (CLOSE,)


def enqueue_close(db: Session, job_queue: JobQueue, connection: Connection, fusion_id: str, code: str | None, *,
                  close: bool, reason: str, key: str | None = None) -> Enqueued:
    """Queue the close (or reopen) of a sales order sent to QuickBooks (or on its way: the close waits for it,
    and for the order's pending invoices). A close of the same order already waiting is not queued again.
    Refused (NOT_IN_QUICKBOOKS) for an order never sent."""
    order_key = f"sales_order:{fusion_id}"
    sent = links.find(db, connection.id, "sales_order", fusion_id)
    pending_order = queue.pending_with_key(db, connection.id, order_key)
    if sent is None and pending_order is None:
        raise Refused(Refusal.NOT_IN_QUICKBOOKS, code or fusion_id,
                      f"sales order {code or fusion_id!r} was not sent to QuickBooks by {connection.name!r}: there is "
                      "nothing to close or reopen")
    waiting = next((job for job in queue.pending_of_kind(db, connection.id, CLOSE_ORDER)
                    if job.payload.get("fusion_id") == fusion_id and bool(job.payload.get("close")) == close), None)
    if waiting is not None:
        return Enqueued(waiting, False)
    invoices = [job for job in queue.of_order(db, connection.id, "shipment", order_key) if job.status in PENDING]
    waits_for = invoices[-1] if invoices else pending_order
    return job_queue.enqueue(db, connection.id, CLOSE_ORDER, closing_payload(fusion_id, code, close, reason), key=key,
                             read_only=True, depends_on=waits_for.id if waits_for is not None else None)
