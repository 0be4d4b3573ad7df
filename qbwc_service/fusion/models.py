"""Fusion Operations entities, as snapshots the service queues and maps.

Shaped after the Fusion Operations v2 API (camelCase; v1 kebab-case names are accepted as aliases
where known). Most response schemas are not public, so unknown fields are kept, not rejected, and
only what a mapping needs is required. A snapshot that lacks a required field or has a value of the
wrong type is refused at enqueue with a message naming the field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator


class FusionModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, str_strip_whitespace=True, frozen=True)


class Ref(FusionModel):
    """A referenced entity: by id and/or code, with a name where the API gives one."""

    id: int | str | None = None
    code: str | None = None
    name: str | None = None


class Market(Ref):
    """A client's market. Its integration page holds the "QuickBooks customer" custom field, the QuickBooks
    customer of the market's clients (customer_name = "market_custom_field")."""

    custom_fields: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("customFields", "custom-fields")
    )


class Address(FusionModel):
    code: str | None = None
    name: str | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = Field(default=None, validation_alias=AliasChoices("postalCode", "postal-code"))
    country: str | None = None


class Client(FusionModel):
    """A customer; Fusion calls the customer's market segment 'market' in some screens."""

    id: int | str | None = None
    code: str = Field(min_length=1)
    name: str | None = None
    market: Market | None = None
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("customFields", "custom-fields")
    )
    billing_address: Address | None = Field(
        default=None, validation_alias=AliasChoices("billingAddress", "billing-address")
    )
    shipping_address: Address | None = Field(
        default=None, validation_alias=AliasChoices("shippingAddress", "shipping-address")
    )


class Supplier(FusionModel):
    id: int | str | None = None
    code: str = Field(min_length=1)
    name: str | None = None


class Product(FusionModel):
    id: int | str | None = None
    code: str = Field(min_length=1)
    name: str | None = None
    notes: str | None = Field(default=None, validation_alias=AliasChoices("notes", "observations"))
    labels: list[str] = Field(default_factory=list, validation_alias=AliasChoices("labels", "tags"))
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("customFields", "custom-fields")
    )
    unit: str | None = None


class OrderLine(FusionModel):
    """A sales-order or purchase-order line."""

    id: int | str | None = None
    product: Product
    quantity: float = Field(gt=0, validation_alias=AliasChoices("quantity", "quantityOrdered", "quantity-ordered"))
    unit_price: float | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("unitPrice", "unitCost", "unit-price", "price")
    )
    notes: str | None = None


class _Document(FusionModel):
    """What every Fusion document the flows send has in common."""

    id: int | str
    code: str = Field(min_length=1)
    created_at: datetime | None = Field(default=None, validation_alias=AliasChoices("createdAt", "created-at"))
    document_date: date | None = Field(default=None, validation_alias=AliasChoices("documentDate", "document-date"))
    notes: str | None = None
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("customFields", "custom-fields")
    )


class _Order(_Document):
    status: Literal["OPEN", "CLOSED", "ARCHIVED"] | None = None
    due_date: date | None = Field(default=None, validation_alias=AliasChoices("dueDate", "due-date"))
    lines: list[OrderLine] = Field(min_length=1, validation_alias=AliasChoices("lines", "products"))


class SalesOrder(_Order):
    client: Client
    transfer_date: date | None = Field(default=None, validation_alias=AliasChoices("transferDate", "transfer-date"))
    shipping_notes: str | None = Field(default=None, validation_alias=AliasChoices("shippingNotes", "shipping-notes"))


class PurchaseOrder(_Order):
    supplier: Supplier
    receiving_notes: str | None = Field(
        default=None, validation_alias=AliasChoices("receivingNotes", "receiving-notes")
    )


class DeliveryLine(FusionModel):
    """A line of a receiving or a shipment: what was received or shipped of an order line."""

    id: int | str | None = None
    order_line_id: int | str | None = Field(
        default=None, validation_alias=AliasChoices("orderLineId", "salesOrderLineId", "purchaseOrderLineId")
    )
    product: Product
    quantity: float = Field(gt=0)
    unit_price: float | None = Field(default=None, ge=0, validation_alias=AliasChoices("unitPrice", "unitCost"))


class Receiving(_Document):
    """A receiving of (part of) a purchase order; becomes a bill."""

    purchase_order: PurchaseOrder = Field(validation_alias=AliasChoices("purchaseOrder", "purchase-order"))
    received_at: datetime | None = Field(default=None, validation_alias=AliasChoices("receivedAt", "received-at"))
    lines: list[DeliveryLine] = Field(default_factory=list)


class Shipment(_Document):
    """A shipment of (part of) a sales order; becomes an invoice."""

    sales_order: SalesOrder = Field(validation_alias=AliasChoices("salesOrder", "sales-order"))
    shipped_at: datetime | None = Field(default=None, validation_alias=AliasChoices("shippedAt", "shipped-at"))
    lines: list[DeliveryLine] = Field(default_factory=list)


class Worker(FusionModel):
    id: int | str | None = None
    number: str | None = None
    name: str = Field(min_length=1)


class TimeRecord(FusionModel):
    """A production record: an operator working on an operation of the production order."""

    id: int | str
    worker: Worker = Field(validation_alias=AliasChoices("worker", "operator"))
    operation: Ref
    section: Ref | None = None
    start_time: datetime = Field(validation_alias=AliasChoices("startTime", "start-time"))
    end_time: datetime = Field(validation_alias=AliasChoices("endTime", "end-time"))
    notes: str | None = None

    @field_validator("end_time")
    @classmethod
    def _after_start(cls, value: datetime, info: Any) -> datetime:
        start = info.data.get("start_time")
        if start is not None and value <= start:
            raise ValueError("must be after startTime")
        return value


class ProductionOrder(FusionModel):
    """A production (work) order with its time records."""

    id: int | str
    code: str = Field(min_length=1)
    description: str | None = None
    client: Client | None = None
    time_records: list[TimeRecord] = Field(
        min_length=1, validation_alias=AliasChoices("timeRecords", "productionRecords", "productions")
    )


class SalesOrderDemand(FusionModel):
    """A sales order's claim on a product's stock (for 'quantity on orders')."""

    status: Literal["OPEN", "CLOSED", "ARCHIVED"]
    fulfillable: bool = True
    asn_sent: bool = Field(default=False, validation_alias=AliasChoices("asnSent", "asn-sent"))
    quantity_ordered: float = Field(ge=0, validation_alias=AliasChoices("quantityOrdered", "quantity"))
    quantity_shipped: float = Field(default=0, ge=0, validation_alias=AliasChoices("quantityShipped",))


class StockLevel(FusionModel):
    """A product's stock: in stock, and either the quantity on orders or the orders to compute it from."""

    product: Product
    quantity_in_stock: float = Field(validation_alias=AliasChoices("quantityInStock", "quantity", "inStock"))
    quantity_on_orders: float | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("quantityOnOrders", "onOrders")
    )
    sales_orders: list[SalesOrderDemand] = Field(
        default_factory=list, validation_alias=AliasChoices("salesOrders", "sales-orders")
    )

    def on_orders(self) -> float:
        """Unshipped quantity of open or closed, fulfillable, not archived sales orders whose ASN was not sent."""
        if self.quantity_on_orders is not None:
            return self.quantity_on_orders
        return sum(
            max(order.quantity_ordered - order.quantity_shipped, 0.0)
            for order in self.sales_orders
            if order.status in ("OPEN", "CLOSED") and order.fulfillable and not order.asn_sent
        )

    def quantity_to_send(self) -> float:
        return self.quantity_in_stock - self.on_orders()
