"""Order changes: a sales or purchase order changed in Fusion after it was sent, sent as its ``*ModRq``
(``update_sent_orders``), while nothing is invoiced or billed against it.

The Mod names the QuickBooks order by the TxnID of its link and the EditSequence last read; a stale one
(3200) makes the job read the order again, then send the change with the fresh EditSequence. Sending the same
change twice is harmless (the second finds the order as the first left it), so a lost answer is simply asked
again. Done, the link follows the order: its new EditSequence and line ids.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from mappings.changes import as_mod
from mappings.errors import MappingError
from mappings.linking import line_ids
from qbwc_service import links, queue
from qbwc_service.db.models import Job
from qbwc_service.errors import InvalidJobPayload
from qbwc_service.kinds.base import Answer, BuildContext, Built, Progress, RequestKind, SettleContext, joined
from qbwc_service.kinds.flows import FLOWS, Flow, FlowKind, change_kind_name, options_of
from qbwc_service.kinds.raw import fresh_edit_sequence, reads_again
from qbwc_service.qbxml.response import Response
from qbwc_service.settlements import Continue, Dead, Done, Settlement

# The flow of each document that bills an order: what stops the order from changing.
_BILLED_BY = {"sales_order": ("shipment", "invoice"), "purchase_order": ("receiving", "bill")}


class ChangeProgress(Progress):
    requery: bool = False
    requeries: int = 0
    edit_sequence: str | None = None


class OrderChangeKind(RequestKind[ChangeProgress]):
    progress_model = ChangeProgress

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.sent_as = FlowKind(flow)
        self.name = change_kind_name(flow.name)

    def reads_only(self, payload: dict[str, Any]) -> bool:
        return True  # the same change sent twice leaves the order as once

    def build(self, job: Job, ctx: BuildContext) -> Built:
        entity = self.sent_as.entity(job)
        billed_by, document = _BILLED_BY[self.flow.name]
        other = next(iter(queue.of_order(ctx.db, ctx.connection.id, billed_by, f"{self.flow.name}:{entity.id}")),
                     None)
        if other is not None:
            raise InvalidJobPayload(
                f"{self.flow.label} {entity.code!r} was not changed in QuickBooks: its {billed_by} "
                f"{(other.payload.get('entity') or {}).get('code')!r} is {'' if other.status == 'done' else 'to be '}"
                f"{document}d (job {other.id}), and QuickBooks keeps an order that is {document}d as it is. "
                "Change it in QuickBooks if it must change.")
        link = links.find(ctx.db, ctx.connection.id, self.flow.name, entity.id)
        if link is None:
            raise InvalidJobPayload(f"{self.flow.label} {entity.code!r} is not in QuickBooks yet: nothing to change")
        progress = self.progress(job)
        if progress.requery:
            query = etree.Element(f"{self.flow.qbd_type}QueryRq")
            etree.SubElement(query, "TxnID").text = link.qbd_id
            return Built([query], looks_up=True)
        mapping = self.sent_as.context(ctx.db, job, entity, ctx.connection, ctx.version, ctx.sync_date)
        known = {str(k): str(v) for k, v in (link.line_ids or {}).items()}
        try:
            add = self.flow.build(entity, options_of(ctx.connection), mapping)
            mod = as_mod(add, link.qbd_id, progress.edit_sequence or link.edit_sequence or "",
                         [known.get(str(line.id)) for line in entity.lines])
        except MappingError as exc:
            raise InvalidJobPayload(str(exc)) from exc
        return Built([mod], warnings=mapping.warnings)

    def settle(self, job: Job, answer: Answer, ctx: SettleContext) -> Settlement:
        progress = self.progress(job)
        if progress.requery:
            fresh = fresh_edit_sequence(answer.responses)
            if fresh is None:
                first = answer.responses[0]
                return Dead(f"The {self.flow.label} to change could not be read back from QuickBooks (it may have "
                            f"been deleted): {first.status_message}", first.status_code, joined(answer.responses))
            return Continue(f"Read EditSequence {fresh}; sending the change again.",
                            progress.model_copy(update={"requery": False, "edit_sequence": fresh}))
        return super().settle(job, answer, ctx)

    def done(self, job: Job, responses: list[Response], ctx: SettleContext) -> Settlement:
        first = responses[0]
        ret = first.first_ret()
        entity = self.sent_as.entity(job)
        if ret is not None:
            links.record(ctx.db, ctx.connection.id, self.flow.name, entity.id, qbd_type=self.flow.qbd_type,
                         qbd_id=ret.findtext("TxnID") or "", ref_number=ret.findtext("RefNumber"),
                         edit_sequence=ret.findtext("EditSequence"), line_ids=line_ids(ret, entity.lines),
                         job_id=job.id, now=ctx.clock.now())
        return Done(result={"TxnID": ret.findtext("TxnID") if ret is not None else None, "changed": True},
                    response_xml=joined(responses), status_code=first.status_code,
                    status_message=first.status_message)

    def refused(self, job: Job, decisive: Response, responses: list[Response], ctx: SettleContext) -> Settlement:
        progress = self.progress(job)
        if reads_again(decisive, progress.requeries):
            return Continue(f"{decisive.status_message.strip()} Reading the {self.flow.label} again first.",
                            progress.model_copy(update={"requery": True, "requeries": progress.requeries + 1}))
        return super().refused(job, decisive, responses, ctx)


KINDS = tuple(OrderChangeKind(flow) for flow in FLOWS.values() if flow.changeable)
