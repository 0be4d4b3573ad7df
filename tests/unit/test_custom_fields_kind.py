"""The custom-field kind's decisions, value by value: written, updated (after "already holds a value"),
refused with the field named, or sent again later; never the whole job for one field."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from qbwc_service.db.models import Job
from qbwc_service.kinds import REGISTRY
from qbwc_service.kinds.base import Answer
from qbwc_service.kinds.custom_fields import CUSTOM_FIELDS, CustomFieldsProgress, FieldOutcome
from qbwc_service.qbxml.response import parse_message_set
from qbwc_service.queue import stored_progress
from qbwc_service.settlements import Continue, Dead, Done, Retry, Settlement

TXN_ID = "1F3-1773500000"
VALUES = [["Fusion code", "SO-5001"], ["Carrier", "DHL"], ["Customer PO", "CR-8812"]]
CTX: Any = None  # the kind decides from the job and the answer alone
UNDEFINED = 'Object "{}" specified in the request cannot be found. '
ALREADY = 'There was an error when saving a data extension "{}". QuickBooks error message: it already has a value.'


def job(values: list[list[str]] = VALUES) -> Job:
    return Job(id=7, kind="custom_fields", payload={"txn_type": "SalesOrder", "txn_id": TXN_ID, "values": values},
               cursor=None)


def sent(made: Job) -> list[tuple[str, str | None, str | None]]:
    """(request, field, value) of what the kind would send now."""
    built = CUSTOM_FIELDS.build(made, CTX)
    return [(str(r.tag), r.findtext("*/DataExtName"), r.findtext("*/DataExtValue")) for r in built.requests]


def answer(*statuses: tuple[str, str, str]) -> Answer:
    """QuickBooks' answers, in request order: (Rs tag, status code, message)."""
    root = etree.Element("QBXML")
    messages = etree.SubElement(root, "QBXMLMsgsRs")
    for tag, code, message in statuses:
        rs = etree.SubElement(messages, tag, requestID="7", statusCode=code,
                              statusSeverity="Info" if code == "0" else "Error", statusMessage=message)
        if code == "0":
            etree.SubElement(rs, "DataExtRet")
    return Answer(responses=parse_message_set(etree.tostring(root, encoding="unicode")))


def ok(tag: str = "DataExtAddRs") -> tuple[str, str, str]:
    return tag, "0", "Status OK"


def settle(made: Job, reply: Answer) -> Settlement:
    settlement = CUSTOM_FIELDS.settle(made, reply, CTX)
    if settlement.progress is not None:  # what the queue stores for the next exchange
        made.cursor = stored_progress(settlement.progress)
    return settlement


def test_every_value_is_an_add_and_all_written_is_done() -> None:
    made = job()
    assert sent(made) == [("DataExtAddRq", name, value) for name, value in VALUES]
    done = settle(made, answer(ok(), ok(), ok()))
    assert isinstance(done, Done)
    assert done.result == {"TxnID": TXN_ID, "fields": {"Fusion code": "written", "Carrier": "written",
                                                       "Customer PO": "written"}}
    assert done.status_message == "Custom fields written 'Fusion code', 'Carrier', 'Customer PO'."


def test_an_undefined_field_is_refused_alone_naming_it_and_the_others_stay_written() -> None:
    made = job()
    dead = settle(made, answer(ok(), ("DataExtAddRs", "3120", UNDEFINED.format("Carrier")), ok()))
    assert isinstance(dead, Dead) and dead.status_code == "3120"
    assert dead.reason.startswith("Custom field 'Carrier' refused: QuickBooks has no custom field 'Carrier' for "
                                  "sales orders: define it in QuickBooks")
    assert "The others are in QuickBooks: written 'Fusion code', 'Customer PO'." in dead.reason
    assert dead.result is not None
    fields = dead.result["fields"]
    assert fields["Fusion code"] == fields["Customer PO"] == "written"
    assert fields["Carrier"].startswith("refused: QuickBooks has no custom field 'Carrier'")


@pytest.mark.parametrize("code", ["3180", "3100"])
def test_a_field_that_already_holds_a_value_is_replaced_with_a_mod(code: str) -> None:
    made = job()
    more = settle(made, answer(ok(), ok(), ("DataExtAddRs", code, ALREADY.format("Customer PO"))))
    assert isinstance(more, Continue) and "'Customer PO' already held a value" in more.note
    assert sent(made) == [("DataExtModRq", "Customer PO", "CR-8812")]  # the written ones are not sent again
    done = settle(made, answer(ok("DataExtModRs")))
    assert isinstance(done, Done) and done.result is not None
    assert done.result["fields"] == {"Fusion code": "written", "Carrier": "written", "Customer PO": "updated"}
    assert done.status_message == "Custom fields written 'Fusion code', 'Carrier'; updated 'Customer PO'."


def test_a_mod_that_is_refused_is_refused_not_sent_again_as_a_mod_forever() -> None:
    made = job([["Customer PO", "CR-8812"]])
    settle(made, answer(("DataExtAddRs", "3180", ALREADY.format("Customer PO"))))
    dead = settle(made, answer(("DataExtModRs", "3070", 'The string "CR-8812" in the field "Customer PO" is too '
                                                        "long.")))
    assert isinstance(dead, Dead) and dead.status_code == "3070"
    assert "Custom field 'Customer PO' refused: QuickBooks said (3070)" in dead.reason
    assert "Nothing was written." in dead.reason


def test_a_locked_record_sends_again_later_only_the_values_without_an_outcome() -> None:
    made = job()
    locked = 'The record "SO-5001" is in use by another QuickBooks user. Try again later.'
    retry = settle(made, answer(ok(), ("DataExtAddRs", "3175", locked), ok()))
    assert isinstance(retry, Retry) and retry.status_code == "3175"
    assert retry.reason.startswith("Custom field 'Carrier': The record \"SO-5001\" is in use")
    assert retry.reason.endswith("retrying later. Only these are sent again; the other fields keep their outcome.")
    assert sent(made) == [("DataExtAddRq", "Carrier", "DHL")]
    done = settle(made, answer(ok()))
    assert isinstance(done, Done) and done.result is not None
    assert set(done.result["fields"].values()) == {"written"}


def test_a_value_quickbooks_did_not_answer_is_sent_again() -> None:
    made = job()
    retry = settle(made, answer(ok()))
    assert isinstance(retry, Retry) and "'Carrier': QuickBooks returned no answer" in retry.reason
    assert [field for _, field, _ in sent(made)] == ["Carrier", "Customer PO"]


def test_an_operator_retry_sends_the_refused_values_again_as_adds() -> None:
    made = job()
    settle(made, answer(("DataExtAddRs", "3180", ALREADY.format("Fusion code")), ok(),
                        ("DataExtAddRs", "3120", UNDEFINED.format("Customer PO"))))
    dead = settle(made, answer(ok("DataExtModRs")))
    assert isinstance(dead, Dead) and "'Customer PO' refused" in dead.reason
    assert "updated 'Fusion code'" in dead.reason
    kept = CUSTOM_FIELDS.progress_on_retry(made)
    assert isinstance(kept, CustomFieldsProgress)
    made.cursor = stored_progress(kept)
    assert sent(made) == [("DataExtAddRq", "Customer PO", "CR-8812")]
    done = settle(made, answer(ok()))
    assert isinstance(done, Done) and done.result is not None
    assert done.result["fields"] == {"Fusion code": "updated", "Carrier": "written", "Customer PO": "written"}


def test_a_document_deleted_in_quickbooks_is_named_for_every_field() -> None:
    made = job(VALUES[:2])
    gone = UNDEFINED.format(TXN_ID)
    dead = settle(made, answer(("DataExtAddRs", "3120", gone), ("DataExtAddRs", "3120", gone)))
    assert isinstance(dead, Dead)
    assert dead.reason.count(f"the SalesOrder {TXN_ID} is not in QuickBooks any more") == 2
    assert "Nothing was written." in dead.reason
    assert dead.result is not None
    assert all(outcome.startswith("refused: ") for outcome in dead.result["fields"].values())


def test_progress_survives_the_json_column() -> None:
    made = job()
    settle(made, answer(ok(), ("DataExtAddRs", "3180", ALREADY.format("Carrier")),
                        ("DataExtAddRs", "3120", UNDEFINED.format("Customer PO"))))
    progress = CUSTOM_FIELDS.progress(made)
    assert progress.modify == ("Carrier",)
    assert {name: r.outcome for name, r in progress.results.items()} == {
        "Fusion code": FieldOutcome.WRITTEN, "Customer PO": FieldOutcome.REFUSED}


def test_sending_a_custom_field_job_again_is_harmless() -> None:
    assert REGISTRY.named("custom_fields").reads_only(job().payload)
