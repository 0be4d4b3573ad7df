"""Plans a raw job makes inside a session: link to an existing list entry after 3100."""

from __future__ import annotations

from lxml import etree

from qbwc_service.kinds import REGISTRY
from qbwc_service.kinds.raw import existing_object_query, plan_link_existing

MESSAGE = 'The name "{}" of the list element is already in use.'


def _request(text: str) -> etree._Element:
    return etree.fromstring(text)


def test_a_list_add_plans_to_read_the_existing_entry_by_full_name() -> None:
    request = _request("<CustomerAddRq><CustomerAdd><Name>Job 1</Name><ParentRef><FullName>Acme</FullName>"
                       "</ParentRef></CustomerAdd></CustomerAddRq>")
    full_name = plan_link_existing(request, MESSAGE.format("Job 1"))
    assert full_name == "Acme:Job 1"
    query = existing_object_query(request, full_name)
    assert query.tag == "CustomerQueryRq" and query.findtext("FullName") == "Acme:Job 1"


def test_no_link_when_the_entry_cannot_be_named_safely() -> None:
    by_list_id = _request("<CustomerAddRq><CustomerAdd><Name>Job 1</Name><ParentRef><ListID>80-1</ListID>"
                          "</ParentRef></CustomerAdd></CustomerAddRq>")
    assert plan_link_existing(by_list_id, MESSAGE.format("Job 1")) is None
    not_a_list = _request("<DataExtDefAddRq><DataExtDefAdd><OwnerID>0</OwnerID><DataExtName>X</DataExtName>"
                          "<DataExtType>STR255TYPE</DataExtType></DataExtDefAdd></DataExtDefAddRq>")
    assert plan_link_existing(not_a_list, MESSAGE.format("X")) is None


def test_no_link_when_quickbooks_saw_another_name_than_the_one_asked_for() -> None:
    """A respelled name ('Łódź' sent as 'Lodz') in use may be another entry's: linking to it could join two."""
    request = _request("<ItemInventoryAddRq><ItemInventoryAdd><Name>Łódź bracket</Name>"
                       "</ItemInventoryAdd></ItemInventoryAddRq>")
    assert plan_link_existing(request, MESSAGE.format("Lódz bracket")) is None
    same = _request("<ItemInventoryAddRq><ItemInventoryAdd><Name>Lodz bracket</Name>"
                    "</ItemInventoryAdd></ItemInventoryAddRq>")
    full_name = plan_link_existing(same, MESSAGE.format("Lodz bracket"))
    assert full_name == "Lodz bracket"
    query = existing_object_query(same, full_name)
    assert query.tag == "ItemInventoryQueryRq" and query.findtext("FullName") == "Lodz bracket"


def test_one_registry_names_every_kind_once() -> None:
    names = REGISTRY.names()
    assert len(names) == len(set(names))
    assert {"raw", "list_add", "probe", "pull", "custom_fields", "sales_order", "purchase_order", "receiving",
            "shipment", "time_tracking", "stock", "sales_order_change", "purchase_order_change",
            "sales_order_close"} == set(names)
    assert REGISTRY.named("pull").streams and not REGISTRY.named("raw").streams
    assert REGISTRY.named("probe").reads_only({}) and not REGISTRY.named("sales_order").reads_only({})
