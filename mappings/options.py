"""Per-connection integration options: every option of the send flows, with its default.

Stored as JSON on the connection and validated on save; an invalid combination (stock sync without an
adjustment account, custom fields without the entity-code field) is refused with a message naming it.
"""

from __future__ import annotations

from datetime import time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TimeSource = Literal["production_order_code", "production_order_description", "operation_name", "section_name"]


class CustomFieldPair(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    qbd_field: str = Field(min_length=1, max_length=31, description="QuickBooks custom field name.")
    fusion_field: str = Field(min_length=1, description="Fusion custom field name (case-sensitive).")


class FlowSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    manual: bool = True
    automatic: bool = False


RetrieveType = Literal["sales_order", "purchase_order", "invoice", "estimate"]
ALL_RETRIEVE_TYPES: tuple[RetrieveType, ...] = ("sales_order", "purchase_order", "invoice", "estimate")


class RetrieveCustomField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    qbd_field: str = Field(min_length=1, max_length=31, description="QuickBooks custom field name (DataExt).")
    fusion_field: str = Field(min_length=1, description="Fusion custom field name (case-sensitive).")


class RetrieveOptions(BaseModel):
    """SPEC.md section 3: QuickBooks documents brought into Fusion, and when."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    automatic: bool = Field(default=False, description="Retrieve on a schedule while a Web Connector connects.")
    interval_minutes: int = Field(default=30, ge=5, le=1440, description="Minutes between automatic retrieves.")
    window_start: time | None = Field(
        default=None, description="Start of the sync window (time of day in time_zone); none: all day.")
    window_end: time | None = Field(
        default=None, description="End of the sync window (time of day in time_zone); may be before window_start "
        "(a window across midnight); none: all day.")
    types: tuple[RetrieveType, ...] = Field(
        default=ALL_RETRIEVE_TYPES, min_length=1, description="The QuickBooks documents retrieved.")
    skip_manually_closed: bool = Field(
        default=False, description="Manually closed QuickBooks orders are not retrieved.")
    update_open_orders: bool = Field(
        default=False, description="A QuickBooks document edited after it was imported updates its Fusion order "
        "while that order is still open. Off: a document is imported once, later edits are ignored.")
    create_missing_products: bool = Field(
        default=True, description="A QuickBooks item with no Fusion product is created as a Fusion product.")
    ignore_category_names: bool = Field(
        default=False, description="A QuickBooks item Category:Sub:Name becomes the Fusion product code Name.")
    custom_fields: tuple[RetrieveCustomField, ...] = Field(default=(), max_length=3)

    @model_validator(mode="after")
    def _coherent(self) -> RetrieveOptions:
        if (self.window_start is None) != (self.window_end is None):
            raise ValueError("a sync window needs both window_start and window_end")
        if self.window_start is not None and self.window_start == self.window_end:
            raise ValueError("window_start and window_end are the same time; leave both unset for all day")
        if len(set(self.types)) != len(self.types):
            raise ValueError("types names a document twice")
        names = [pair.qbd_field for pair in self.custom_fields]
        if len(set(names)) != len(names):
            raise ValueError("custom_fields names a QuickBooks field twice")
        return self


class IntegrationOptions(BaseModel):
    """Everything SPEC.md section 2 lets a user choose for Fusion -> QuickBooks."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # which flows run, and how
    sales_orders: FlowSwitch = FlowSwitch()
    purchase_orders: FlowSwitch = FlowSwitch()
    receivings: FlowSwitch = FlowSwitch()
    shipments: FlowSwitch = FlowSwitch()
    time_tracking: FlowSwitch = FlowSwitch()
    stock_sync: bool = Field(default=False, description="Stock sync (manual only).")

    # shared by the send flows
    line_description: Literal["product_name", "product_notes", "shipping_notes"] = "product_name"
    document_number: Literal["fusion_code", "quickbooks_sequence"] = "quickbooks_sequence"
    customer_name: Literal["customer_code", "market_name", "market_custom_field"] = "customer_code"
    customer_custom_field: str = Field(default="QuickBooks customer", min_length=1)
    document_date: Literal["default", "document_date", "sync_date"] = "default"
    transliterate_names: bool = Field(
        default=False, description="A name or reference with letters QuickBooks cannot store (Latin-1 only) is "
        "sent in its closest Latin-1 spelling ('Łódź' -> 'Lodz') instead of being refused; one with a character "
        "that has no such spelling ('北') is refused either way.",
    )
    time_zone: str = Field(
        default="UTC",
        description="The QuickBooks company's time zone (IANA name, e.g. America/Chicago): the sync date is "
        "today's date there.",
    )
    ship_date: Literal["none", "due_date"] = "none"
    entity_code_field: str | None = Field(
        default=None, max_length=31,
        description="QuickBooks custom field that receives the Fusion entity code (needed by custom_fields).",
    )
    custom_fields: tuple[CustomFieldPair, ...] = Field(default=(), max_length=3)

    # purchase orders
    create_missing_items: bool = False
    item_income_account: str | None = Field(default=None, description="ListID or full name of an account.")
    item_income_account_by: Literal["full_name", "list_id"] = "full_name"

    update_sent_orders: bool = Field(
        default=False, description="A sales or purchase order changed in Fusion after it was sent is sent again "
        "as a change (SalesOrderMod / PurchaseOrderMod), while nothing is invoiced or billed against it. Off: "
        "such a change is refused, naming what differs.",
    )

    close_sales_order_when_shipped: bool = Field(
        default=False, description="A Fusion sales order closed by its shipment closes its QuickBooks sales order: "
        "the lines not fully invoiced are marked closed (fully invoiced lines are left as they are).",
    )

    # shipments -> invoices, receivings -> bills
    partial_invoicing: bool = Field(
        default=False, description="Invoice the shipped quantity, linked to the QuickBooks sales order lines, "
        "several shipments per order. Off: one invoice per order, for the ordered quantity.",
    )
    partial_billing: bool = Field(
        default=False, description="Bill the received quantity, linked to the QuickBooks purchase order lines, "
        "several receivings per order. Off: one bill per order, for the ordered quantity.",
    )

    # production order time records -> time tracking
    time_customer_job: TimeSource = "production_order_code"
    time_customer_job_under_client: bool = Field(
        default=True, description="The customer job sits under the production order's client (Client:Job), named "
        "by the customer_name rules; false: under time_customer_parent for every order.",
    )
    time_customer_parent: str | None = Field(
        default=None, description="Parent customer of the customer job (Parent:Job) for production orders without "
        "a client (for every order when time_customer_job_under_client is false); none = a top-level customer.",
    )
    time_service_item: TimeSource = "operation_name"
    time_payroll_item: TimeSource | None = None
    create_missing_employee: bool = False
    create_missing_customer_job: bool = False
    billable: bool = False

    # stock -> inventory adjustments
    stock_adjustment_account: str | None = None
    stock_adjustment_memo: str | None = Field(default=None, max_length=4095)
    stock_only_quickbooks_label: bool = False
    stock_quickbooks_label: str = "QuickBooks"
    stock_item_custom_field: str | None = None

    # QuickBooks -> Fusion
    retrieve: RetrieveOptions = RetrieveOptions()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as America/Chicago") from exc
        return value

    @model_validator(mode="after")
    def _coherent(self) -> IntegrationOptions:
        if self.stock_sync and not self.stock_adjustment_account:
            raise ValueError("stock_sync needs stock_adjustment_account (the QuickBooks account that receives "
                             "the adjustments)")
        if self.custom_fields and not self.entity_code_field:
            raise ValueError("custom_fields needs entity_code_field (the QuickBooks custom field that receives the "
                             "Fusion entity code)")
        if self.create_missing_items and not self.item_income_account:
            raise ValueError("create_missing_items needs item_income_account (ListID or full name)")
        names = [pair.qbd_field for pair in self.custom_fields]
        if len(set(names)) != len(names):
            raise ValueError("custom_fields names a QuickBooks field twice")
        if self.entity_code_field and self.entity_code_field in names:
            raise ValueError(f"custom_fields uses {self.entity_code_field!r}, which already receives the Fusion "
                             "entity code (entity_code_field)")
        return self
