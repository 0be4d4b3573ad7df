"""Fusion custom fields -> QuickBooks custom fields of the document a send created (SPEC.md section 2,
"Save Fusion custom fields into QBD custom fields").

Flows SO -> SalesOrder, PO -> PurchaseOrder, Receiving -> Bill, Shipment -> Invoice. Once QuickBooks has
answered the add with the document's TxnID, each value is a ``DataExtAddRq`` (``DataExtModRq`` for a field
that already holds a value) with OwnerID 0: the public custom fields a QuickBooks user sees. The first value
is always the Fusion entity code, in the field named by ``entity_code_field``; then up to three pairs
(QuickBooks field <- Fusion field, matched case-sensitively).

A public custom field must be defined before a value can be stored in it; ``build_data_ext_defs`` defines
the ones the company lacks (as 255-character text fields on the document types that use them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from lxml import etree
from lxml.builder import E

from mappings.common import custom_field_text
from mappings.errors import MappingError
from mappings.options import IntegrationOptions
from qbwc_service.fusion.models import PurchaseOrder, Receiving, SalesOrder, Shipment

TxnDataExtType = Literal["SalesOrder", "PurchaseOrder", "Bill", "Invoice"]
CustomFieldEntity = SalesOrder | PurchaseOrder | Receiving | Shipment

# OwnerID 0: the custom fields of the QuickBooks user interface (a GUID would make them private to one app).
PUBLIC_OWNER_ID = "0"
DATA_EXT_NAME_MAX = 31
DATA_EXT_TYPE = "STR255TYPE"


def custom_field_values(entity: CustomFieldEntity, options: IntegrationOptions) -> list[tuple[str, str]]:
    """(QuickBooks field, value) to store on the document: the entity code first, then each configured pair
    whose Fusion field the entity has (exact, case-sensitive name; absent or empty values are skipped)."""
    code_field = options.entity_code_field
    if code_field is None:
        return []
    values = [(code_field, entity.code)]
    for pair in options.custom_fields:  # IntegrationOptions refuses a pair that reuses code_field
        value = custom_field_text(entity.custom_fields.get(pair.fusion_field))
        if value:
            values.append((pair.qbd_field, value))
    return values


def build_data_ext_adds(
    txn_type: TxnDataExtType, txn_id: str, values: Iterable[tuple[str, str]]
) -> list[etree._Element]:
    """One ``DataExtAddRq`` per (QuickBooks field, value), on the document ``txn_id``."""
    return [build_data_ext_add(txn_type, txn_id, name, value) for name, value in values]


def build_data_ext_add(txn_type: TxnDataExtType, txn_id: str, name: str, value: str) -> etree._Element:
    """``DataExtAddRq`` storing a value in a custom field the document has no value in yet."""
    request: etree._Element = E.DataExtAddRq(E.DataExtAdd(*_data_ext_body(txn_type, txn_id, name, value)))
    return request


def build_data_ext_mod(txn_type: TxnDataExtType, txn_id: str, name: str, value: str) -> etree._Element:
    """``DataExtModRq`` replacing the value of a custom field the document already has a value in."""
    request: etree._Element = E.DataExtModRq(E.DataExtMod(*_data_ext_body(txn_type, txn_id, name, value)))
    return request


def build_data_ext_defs(names: Iterable[str], txn_types: Iterable[TxnDataExtType]) -> list[etree._Element]:
    """One ``DataExtDefAddRq`` per custom field the company lacks: public, text of up to 255 characters,
    assigned to each of the document types."""
    assign_to = list(dict.fromkeys(txn_types))
    if not assign_to:
        raise MappingError("txn_types is empty: a custom field must be assigned to at least one document type")
    return [
        E.DataExtDefAddRq(
            E.DataExtDefAdd(
                E.OwnerID(PUBLIC_OWNER_ID),
                E.DataExtName(_checked_name(name)),
                E.DataExtType(DATA_EXT_TYPE),
                *(E.AssignToObject(txn_type) for txn_type in assign_to),
            )
        )
        for name in dict.fromkeys(names)
    ]


def _data_ext_body(txn_type: TxnDataExtType, txn_id: str, name: str, value: str) -> list[etree._Element]:
    if not txn_id.strip():
        raise MappingError(f"txn_id is empty: custom field {name!r} needs the TxnID of the {txn_type}")
    if not value:
        raise MappingError(f"custom field {name!r}: the value is empty")
    return [
        E.OwnerID(PUBLIC_OWNER_ID),
        E.DataExtName(_checked_name(name)),
        E.TxnDataExtType(txn_type),
        E.TxnID(txn_id.strip()),
        E.DataExtValue(value),
    ]


def _checked_name(name: str) -> str:
    if not name.strip() or len(name) > DATA_EXT_NAME_MAX:
        raise MappingError(f"custom field name {name!r} must have 1 to {DATA_EXT_NAME_MAX} characters")
    return name

