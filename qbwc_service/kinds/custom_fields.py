"""Custom-field jobs: after a document was created, its Fusion custom fields are written to QuickBooks'
custom fields of that document, each value on its own.

Every value is sent as a ``DataExtAdd``; what QuickBooks answers decides that value alone:

    OK                          written
    3180 (or 3100): the field   sent again at once as a ``DataExtMod``, which replaces the value: updated
      already holds a value
    transient (a locked record) sent again after the retry backoff
    anything else               refused, with the field named and QuickBooks' reason (3120: the field is
                                not defined for that kind of document)

The job is done when every value is written or updated. When any was refused it is dead, its message
naming only the refused fields; the others stay written, and the result lists each field's outcome
(``{"fields": {"Fusion code": "written", "Carrier": "refused: ..."}}``). ``jobs retry`` sends the refused
values again, and only them. Sending a value twice is harmless (the second add becomes a Mod of the same
value), so a lost answer simply sends the values without an outcome again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mappings import custom_fields as custom_field_mapping
from mappings.errors import MappingError
from qbwc_service.db.models import Job
from qbwc_service.errors import InvalidJobPayload
from qbwc_service.kinds.base import Answer, BuildContext, Built, Progress, RequestKind, SettleContext, joined
from qbwc_service.qbxml.response import Response
from qbwc_service.qbxml.status import Action, StatusCode, explain, verdict_for
from qbwc_service.settlements import Continue, Dead, Done, Retry, Settlement

# What a DataExtAdd answers when the document already holds a value in the field. Intuit documents 3180 for an
# add onto a field that only DataExtMod can write (one deleted and re-added in the UI); 3100 ("the name is in
# use") can mean nothing else here. A 3180 that was a lock costs nothing: the Mod meets it and is retried.
_ALREADY_HOLDS_A_VALUE = frozenset({StatusCode.NOT_SAVED, StatusCode.NAME_IN_USE})
_DOCUMENTS = {"SalesOrder": "sales orders", "PurchaseOrder": "purchase orders", "Bill": "bills",
              "Invoice": "invoices"}


class FieldOutcome(StrEnum):
    WRITTEN = "written"  # DataExtAdd stored the value
    UPDATED = "updated"  # the field held a value: DataExtMod replaced it
    REFUSED = "refused"  # QuickBooks refused the value; the reason says why


class FieldResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: FieldOutcome
    reason: str = ""
    status_code: str = StatusCode.OK

    def shown(self) -> str:
        return f"{self.outcome}: {self.reason}" if self.outcome is FieldOutcome.REFUSED else str(self.outcome)


class CustomFieldsProgress(Progress):
    results: dict[str, FieldResult] = Field(default_factory=dict)  # fields with an outcome; the others are to send
    modify: tuple[str, ...] = ()  # fields that already hold a value in QuickBooks: sent as DataExtMod


class CustomFieldsKind(RequestKind[CustomFieldsProgress]):
    name = "custom_fields"
    progress_model = CustomFieldsProgress

    def reads_only(self, payload: dict[str, Any]) -> bool:
        return True  # a value sent twice is the same value: the second add becomes a Mod of it

    def build(self, job: Job, ctx: BuildContext) -> Built:
        progress = self.progress(job)
        txn_type, txn_id = job.payload["txn_type"], job.payload["txn_id"]
        pending = self.pending(job, progress)
        if not pending:
            raise InvalidJobPayload("every custom field of this job already has an outcome; nothing is left to send")
        try:
            return Built([
                (custom_field_mapping.build_data_ext_mod if name in progress.modify
                 else custom_field_mapping.build_data_ext_add)(txn_type, txn_id, name, value)
                for name, value in pending
            ])
        except MappingError as exc:
            raise InvalidJobPayload(str(exc)) from exc

    def pending(self, job: Job, progress: CustomFieldsProgress) -> list[tuple[str, str]]:
        """(field, value) still to send, in the payload's order: the order of the requests and their answers."""
        return [(str(name), str(value)) for name, value in job.payload["values"] if name not in progress.results]

    def settle(self, job: Job, answer: Answer, ctx: SettleContext) -> Settlement:
        progress = self.progress(job)
        results = dict(progress.results)
        to_modify: list[str] = []
        waiting: list[tuple[str, Response | None]] = []  # sent again after the backoff
        for index, (name, _value) in enumerate(self.pending(job, progress)):
            response = answer.responses[index] if index < len(answer.responses) else None
            if response is None:
                waiting.append((name, None))
                continue
            modifying = name in progress.modify
            verdict = verdict_for(response.status_code, response.status_severity)
            if verdict.action in (Action.DONE, Action.EMPTY):
                results[name] = FieldResult(outcome=FieldOutcome.UPDATED if modifying else FieldOutcome.WRITTEN)
            elif not modifying and response.status_code in _ALREADY_HOLDS_A_VALUE:
                to_modify.append(name)
            elif verdict.action is Action.RETRY:
                waiting.append((name, response))
            else:
                results[name] = FieldResult(outcome=FieldOutcome.REFUSED, status_code=response.status_code,
                                            reason=self.refusal(job, name, response))
        progress = progress.model_copy(update={"results": results, "modify": (*progress.modify, *to_modify)})
        response_xml = joined(answer.responses) or None
        if waiting:
            return Retry(_waiting_reason(waiting), next((r.status_code for _, r in waiting if r is not None), None),
                         response_xml, progress)
        if to_modify:
            return Continue(f"{_names(to_modify)} already held a value in QuickBooks; replacing it with "
                            "DataExtMod.", progress)
        return self.finished(job, progress, response_xml)

    def finished(self, job: Job, progress: CustomFieldsProgress, response_xml: str | None) -> Settlement:
        """Every value has its outcome: done, or dead naming the refused fields (the others stay written)."""
        names = list(dict.fromkeys(str(name) for name, _ in job.payload["values"]))
        results = {name: progress.results[name] for name in names}
        result = {"TxnID": job.payload["txn_id"], "fields": {name: r.shown() for name, r in results.items()}}
        by_outcome = {outcome: [n for n, r in results.items() if r.outcome is outcome] for outcome in FieldOutcome}
        stored = "; ".join(f"{outcome} {_names(by_outcome[outcome])}"
                           for outcome in (FieldOutcome.WRITTEN, FieldOutcome.UPDATED) if by_outcome[outcome])
        refused = [(name, results[name]) for name in by_outcome[FieldOutcome.REFUSED]]
        if not refused:
            return Done(result=result, response_xml=response_xml, status_message=f"Custom fields {stored}.",
                        progress=progress)
        reasons = " ".join(f"Custom field {name!r} refused: {r.reason}" for name, r in refused)
        kept = f"The others are in QuickBooks: {stored}." if stored else "Nothing was written."
        return Dead(f"{reasons} {kept} Once corrected, retry this job: only the refused fields are sent again.",
                    refused[0][1].status_code, response_xml, progress, result=result)

    def refusal(self, job: Job, name: str, response: Response) -> str:
        code, message = response.status_code, response.status_message.strip()
        txn_type, txn_id = job.payload["txn_type"], str(job.payload["txn_id"])
        if code == StatusCode.OBJECT_NOT_FOUND:
            if txn_id and txn_id in message:
                return (f"the {txn_type} {txn_id} is not in QuickBooks any more (deleted?), so nothing can be "
                        f"written on it. QuickBooks said ({code}): {message}")
            return (f"QuickBooks has no custom field {name!r} for {_DOCUMENTS.get(txn_type, txn_type)}: define it "
                    "in QuickBooks (or correct the field's name in the connection's options). "
                    f"QuickBooks said ({code}): {message}")
        return f"QuickBooks said ({code}): {explain(code, message, verdict_for(code, response.status_severity))}"

    def progress_on_retry(self, job: Job) -> Progress | None:
        """An operator's retry keeps what is written and sends the refused values again, as adds."""
        progress = self.progress(job)
        refused = {n for n, r in progress.results.items() if r.outcome is FieldOutcome.REFUSED}
        return progress.model_copy(update={
            "results": {n: r for n, r in progress.results.items() if n not in refused},
            "modify": tuple(n for n in progress.modify if n not in refused),
        })


def _names(names: list[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _waiting_reason(waiting: list[tuple[str, Response | None]]) -> str:
    parts = []
    for name, response in waiting:
        if response is None:
            why = "QuickBooks returned no answer for it"
        else:
            verdict = verdict_for(response.status_code, response.status_severity)
            why = explain(response.status_code, response.status_message, verdict).rstrip(".")
        parts.append(f"Custom field {name!r}: {why}")
    return "; ".join(parts) + ". Only these are sent again; the other fields keep their outcome."


CUSTOM_FIELDS = CustomFieldsKind()
KINDS = (CUSTOM_FIELDS,)
