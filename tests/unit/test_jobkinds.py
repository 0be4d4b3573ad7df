"""Plans a job makes inside a session: link to an existing list entry after 3100."""

from __future__ import annotations

from qbwc_service import jobkinds
from qbwc_service.db.models import Job


def _job(request: str, kind: str = "raw") -> Job:
    return Job(id=1, kind=kind, payload={"request": request}, cursor=None)


MESSAGE = 'The name "{}" of the list element is already in use.'


def test_a_list_add_plans_to_read_the_existing_entry_by_full_name() -> None:
    job = _job("<CustomerAddRq><CustomerAdd><Name>Job 1</Name><ParentRef><FullName>Acme</FullName></ParentRef>"
               "</CustomerAdd></CustomerAddRq>")
    cursor = jobkinds.plan_link_existing(job, MESSAGE.format("Job 1"))
    assert cursor == {"link_existing": "Acme:Job 1"}
    job.cursor = cursor
    query = jobkinds.existing_object_query(job)
    assert query.tag == "CustomerQueryRq" and query.findtext("FullName") == "Acme:Job 1"
    assert jobkinds.plan_link_existing(job, MESSAGE.format("Job 1")) is None  # never twice in a row


def test_no_link_when_the_entry_cannot_be_named_safely() -> None:
    by_list_id = _job("<CustomerAddRq><CustomerAdd><Name>Job 1</Name><ParentRef><ListID>80-1</ListID></ParentRef>"
                      "</CustomerAdd></CustomerAddRq>")
    assert jobkinds.plan_link_existing(by_list_id, MESSAGE.format("Job 1")) is None
    not_a_list = _job("<DataExtDefAddRq><DataExtDefAdd><OwnerID>0</OwnerID><DataExtName>X</DataExtName>"
                      "<DataExtType>STR255TYPE</DataExtType></DataExtDefAdd></DataExtDefAddRq>")
    assert jobkinds.plan_link_existing(not_a_list, MESSAGE.format("X")) is None


def test_the_name_quickbooks_saw_wins_and_items_keep_their_type() -> None:
    job = _job("<ItemInventoryAddRq><ItemInventoryAdd><Name>Łódź bracket</Name>"
               "</ItemInventoryAdd></ItemInventoryAddRq>")
    job.cursor = jobkinds.plan_link_existing(job, MESSAGE.format("Lódz bracket"))
    query = jobkinds.existing_object_query(job)
    assert query.tag == "ItemInventoryQueryRq" and query.findtext("FullName") == "Lódz bracket"
