"""The Fusion Operations client: reads what the send flows need, by id or code, as the entity models of
``qbwc_service.fusion.models`` with the JSON they were read from beside them; creates sales orders, purchase
orders and products; sets custom fields; lists entities changed since a moment (for polling).

Paths follow the v2 API (``../shared/reference/FUSION-API.md``). What is confirmed [C] and what is guessed [G]
is in :class:`Paths`; every guess is one line to change there. Entities that Fusion gives only as references
(a sales order's client, a shipment's sales order, a production order's records) are read in, so a model is
whole: the ``raw`` beside it is that composed JSON.

Requests go through :class:`~qbwc_service.fusion.http.FusionHttp` (budget, retries, 429, pagination); errors
are those of ``qbwc_service.fusion.errors``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from qbwc_service.fusion.errors import FusionBadAnswer, FusionNotFound
from qbwc_service.fusion.http import FusionHttp, Params
from qbwc_service.fusion.models import (
    Client,
    Product,
    ProductionOrder,
    PurchaseOrder,
    Receiving,
    SalesOrder,
    Shipment,
    StockLevel,
)

M = TypeVar("M", bound=BaseModel)

ALL_STATUSES = ("OPEN", "CLOSED", "ARCHIVED")  # v2 lists OPEN only unless told [C]


class Paths:
    """Where each entity is. [C]: seen in the v2 documentation; [G]: a guess."""

    ACCOUNT = "me"  # [G] who the token speaks for: {"account": {"id", "name"}, "user": {...}}
    SALES_ORDERS = "sales-orders"  # [C]
    PURCHASE_ORDERS = "purchase-orders"  # [C]
    PRODUCTION_ORDERS = "production-orders"  # [C]
    PRODUCTION_RECORDS = "production-records"  # [C]; filtered by production order [G: filter[productionOrder.id]]
    PRODUCTS = "products"  # [C v1; G v2]
    INVENTORY = "products/{id}/inventory"  # [C] {"quantity": 52.6}; "quantityOnOrders" [G]
    CLIENTS = "clients"  # [C v1; G v2]
    MARKETS = "markets"  # [G]
    RECEIVINGS = "receivings"  # [G] (v2 filters name a "receiving" of a purchase order)
    SHIPPINGS = "shippings"  # [G] (v2 filters name a "shipping" of a sales order)
    WORKERS = "workers"  # [G] (production records name a worker by id or number [C])
    UPDATED_AT = "updatedAt"  # [G] the modified-since filter (createdAt is [C])


@dataclass(frozen=True)
class Fetched(Generic[M]):
    """An entity as a model, and the JSON it was read from."""

    entity: M
    raw: dict[str, Any]


@dataclass(frozen=True)
class Created:
    """What Fusion answered to a create: the new entity's id and code, and its whole JSON."""

    id: int | str
    code: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class Account:
    """The Fusion account a token speaks for."""

    id: str | None
    name: str | None
    user: str | None
    raw: dict[str, Any]


class FusionClient:
    """Typed reads and writes of one Fusion account."""

    def __init__(self, http: FusionHttp) -> None:
        self.http = http

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> FusionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- who

    def account(self) -> Account:
        """Who the credentials speak for [G: GET /me]."""
        raw = self._object(self.http.get(Paths.ACCOUNT), Paths.ACCOUNT)
        account: dict[str, Any] = raw["account"] if isinstance(raw.get("account"), dict) else raw
        user: dict[str, Any] = raw["user"] if isinstance(raw.get("user"), dict) else {}
        user_name = user.get("name") or user.get("email")
        return Account(id=_text(account.get("id")), name=_text(account.get("name")),
                       user=_text(user_name), raw=raw)

    # ---------------------------------------------------------------- reads

    def sales_order(self, key: int | str, *, by_code: bool = False) -> Fetched[SalesOrder]:
        raw = self._one(Paths.SALES_ORDERS, key, by_code, statuses=ALL_STATUSES)
        return self._parse(SalesOrder, self._with_client(raw), Paths.SALES_ORDERS)

    def purchase_order(self, key: int | str, *, by_code: bool = False) -> Fetched[PurchaseOrder]:
        raw = self._one(Paths.PURCHASE_ORDERS, key, by_code, statuses=ALL_STATUSES)
        return self._parse(PurchaseOrder, raw, Paths.PURCHASE_ORDERS)

    def receiving(self, key: int | str, *, by_code: bool = False) -> Fetched[Receiving]:
        """A receiving with its purchase order read in."""
        raw = self._one(Paths.RECEIVINGS, key, by_code)
        order = raw.get("purchaseOrder") or raw.get("purchase-order")
        ref = _ref(order)
        if ref is not None and not _has_lines(order):
            raw = {**raw, "purchaseOrder": self.purchase_order(ref[0], by_code=ref[1]).raw}
        return self._parse(Receiving, raw, Paths.RECEIVINGS)

    def shipment(self, key: int | str, *, by_code: bool = False) -> Fetched[Shipment]:
        """A shipment (v2: a "shipping") with its sales order, and the order's client, read in."""
        raw = self._one(Paths.SHIPPINGS, key, by_code)
        order = raw.get("salesOrder") or raw.get("sales-order")
        ref = _ref(order)
        if ref is not None and not _has_lines(order):
            raw = {**raw, "salesOrder": self.sales_order(ref[0], by_code=ref[1]).raw}
        return self._parse(Shipment, raw, Paths.SHIPPINGS)

    def production_order(self, key: int | str, *, by_code: bool = False) -> Fetched[ProductionOrder]:
        """A production order with its time records (its production records, workers named) and its client."""
        raw = self._one(Paths.PRODUCTION_ORDERS, key, by_code, statuses=ALL_STATUSES)
        records = raw.get("timeRecords") or raw.get("productionRecords")
        if not records:
            records = list(self.http.pages(Paths.PRODUCTION_RECORDS,
                                           {"filter[productionOrder.id]": str(raw.get("id"))}))
        workers: dict[str, dict[str, Any]] = {}
        raw = {**raw, "timeRecords": [self._with_worker(record, workers) for record in records]}
        client = raw.get("client")
        if isinstance(client, dict) and _ref(client) is not None and "market" not in client:
            key, by_code = _ref_or_fail(client)
            raw["client"] = self.client(key, by_code=by_code).raw
        return self._parse(ProductionOrder, raw, Paths.PRODUCTION_ORDERS)

    def product(self, key: int | str, *, by_code: bool = False) -> Fetched[Product]:
        return self._parse(Product, self._one(Paths.PRODUCTS, key, by_code), Paths.PRODUCTS)

    def client(self, key: int | str, *, by_code: bool = False) -> Fetched[Client]:
        """A client with its market (and the market's custom fields) read in."""
        raw = self._one(Paths.CLIENTS, key, by_code)
        market = raw.get("market")
        ref = _ref(market)
        if isinstance(market, dict) and ref is not None and not any(
                k in market for k in ("customFields", "custom-fields")):
            raw = {**raw, "market": self._one(Paths.MARKETS, *ref)}
        return self._parse(Client, raw, Paths.CLIENTS)

    def stock_level(self, key: int | str, *, by_code: bool = False,
                    demands: Mapping[str, list[dict[str, Any]]] | None = None) -> Fetched[StockLevel]:
        """A product's stock: its inventory [C], and its quantity on orders, from the inventory answer when
        Fusion gives it [G], else from the open and closed sales orders (``demands``, from
        :meth:`sales_order_demands`, read once for many products; read here when not given)."""
        product = self.product(key, by_code=by_code)
        inventory = self._object(self.http.get(Paths.INVENTORY.format(id=quote(str(product.entity.id), safe=""))),
                                 Paths.INVENTORY)
        raw: dict[str, Any] = {"product": product.raw, "quantityInStock": inventory.get("quantity")}
        if inventory.get("quantityOnOrders") is not None:
            raw["quantityOnOrders"] = inventory["quantityOnOrders"]
        else:
            found = demands if demands is not None else self.sales_order_demands()
            raw["salesOrders"] = found.get(product.entity.code, [])
        return self._parse(StockLevel, raw, Paths.INVENTORY)

    def sales_order_demands(self) -> dict[str, list[dict[str, Any]]]:
        """Per product code, what each open or closed sales order asks of it (SalesOrderDemand's JSON)."""
        demands: dict[str, list[dict[str, Any]]] = {}
        for order in self.http.pages(Paths.SALES_ORDERS, {"filter[status]": ["OPEN", "CLOSED"]}):
            for line in order.get("products") or order.get("lines") or []:
                product = line.get("product") if isinstance(line, dict) else None
                code = product.get("code") if isinstance(product, dict) else None
                if not code:
                    continue
                demands.setdefault(code, []).append({
                    "status": order.get("status"),
                    "fulfillable": order.get("fulfillable", True),
                    "asnSent": order.get("asnSent", (order.get("shipping") or {}).get("asnSent", False)),
                    "quantityOrdered": line.get("quantity", line.get("quantityOrdered", 0)),
                    "quantityShipped": line.get("quantityShipped", 0),
                })
        return demands

    def changed(self, collection: str, since: datetime | None = None, *,
                filters: Params | None = None) -> Iterator[dict[str, Any]]:
        """Every entity of ``collection`` (a Paths value) changed at or after ``since`` [G: filter[updatedAt]],
        page after page, as JSON."""
        params: dict[str, str | Sequence[str]] = dict(filters or {})
        if since is not None:
            params[f"filter[{Paths.UPDATED_AT}]"] = f"{since.isoformat(timespec='seconds')}Z.."
        return self.http.pages(collection, params)

    def sales_orders(self, *, statuses: tuple[str, ...] = ALL_STATUSES,
                     since: datetime | None = None) -> Iterator[dict[str, Any]]:
        return self.changed(Paths.SALES_ORDERS, since, filters={"filter[status]": list(statuses)})

    # ---------------------------------------------------------------- writes

    def create_sales_order(self, body: dict[str, Any]) -> Created:
        return self._create(Paths.SALES_ORDERS, body)

    def create_purchase_order(self, body: dict[str, Any]) -> Created:
        return self._create(Paths.PURCHASE_ORDERS, body)

    def create_product(self, body: dict[str, Any]) -> Created:
        return self._create(Paths.PRODUCTS, body)

    def find_by_code(self, collection: str, code: str) -> list[dict[str, Any]]:
        """Every entity of ``collection`` with this code, whatever its status [C filter[code]]; for orders, open,
        closed and archived ones."""
        params: dict[str, str | list[str]] = {"filter[code]": code}
        if collection in (Paths.SALES_ORDERS, Paths.PURCHASE_ORDERS, Paths.PRODUCTION_ORDERS):
            params["filter[status]"] = list(ALL_STATUSES)
        return [e for e in self.http.pages(collection, params) if e.get("code") == code]

    def get(self, collection: str, entity_id: int | str) -> dict[str, Any]:
        """One entity of ``collection`` by id, as JSON (FusionNotFound when there is none)."""
        return self._object(self.http.get(f"{collection}/{quote(str(entity_id), safe='')}"), collection)

    def update(self, collection: str, entity_id: int | str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change an entity: a JSON merge patch [C PATCH, application/merge-patch+json] (named fields replaced,
        lists whole, the others untouched)."""
        answer = self.http.patch(f"{collection}/{quote(str(entity_id), safe='')}", dict(changes))
        return answer if isinstance(answer, dict) else {}

    def set_custom_fields(self, collection: str, entity_id: int | str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Set custom fields of an entity (a JSON merge patch of ``customFields`` [G]; the others untouched)."""
        path = f"{collection}/{quote(str(entity_id), safe='')}"
        answer = self.http.patch(path, {"customFields": dict(values)})
        return answer if isinstance(answer, dict) else {}

    # ---------------------------------------------------------------- helpers

    def _create(self, collection: str, body: dict[str, Any]) -> Created:
        raw = self._object(self.http.post(collection, body), collection)
        if raw.get("id") is None:
            raise FusionBadAnswer(f"the created {collection} has no id", method="POST",
                                  url=self.http.url(collection))
        return Created(id=raw["id"], code=_text(raw.get("code")), raw=raw)

    def _one(self, collection: str, key: int | str, by_code: bool = False,
             statuses: tuple[str, ...] | None = None) -> dict[str, Any]:
        """One entity by id (GET /collection/id) or by code (the list filtered by code [C filter[code]])."""
        if not by_code:
            return self._object(self.http.get(f"{collection}/{quote(str(key), safe='')}"), collection)
        params: dict[str, str | list[str]] = {"filter[code]": str(key)}
        if statuses:
            params["filter[status]"] = list(statuses)
        found = [e for e in self.http.pages(collection, params) if e.get("code") == str(key)]
        if not found:
            raise FusionNotFound(f"Fusion has no {collection} with code {key!r}", what=collection, key=key,
                                 method="GET", url=self.http.url(collection))
        if len(found) > 1:
            raise FusionBadAnswer(f"{len(found)} {collection} have the code {key!r}", method="GET",
                                  url=self.http.url(collection))
        return found[0]

    def _with_client(self, order: dict[str, Any]) -> dict[str, Any]:
        client = order.get("client")
        if isinstance(client, dict) and _ref(client) is not None and "market" not in client:
            key, by_code = _ref_or_fail(client)
            return {**order, "client": self.client(key, by_code=by_code).raw}
        return order

    def _with_worker(self, record: dict[str, Any], cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
        worker = record.get("worker") or record.get("operator")
        if not isinstance(worker, dict) or worker.get("name") or worker.get("id") is None:
            return record
        key = str(worker["id"])
        if key not in cache:
            cache[key] = {**worker, **self._one(Paths.WORKERS, key)}
        return {**record, "worker": cache[key]}

    def _parse(self, model: type[M], raw: dict[str, Any], what: str) -> Fetched[M]:
        try:
            return Fetched(model.model_validate(raw), raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise FusionBadAnswer(f"the {what} does not fit: {where}: {first['msg']}", method="GET",
                                  url=self.http.url(what)) from exc

    def _object(self, body: Any, what: str) -> dict[str, Any]:
        if isinstance(body, dict) and isinstance(body.get("data"), dict) and len(body) <= 2:
            body = body["data"]  # an entity wrapped in {"data": ...} [G]
        if not isinstance(body, dict):
            raise FusionBadAnswer(f"the {what} answer is not a JSON object", method="GET", url=self.http.url(what))
        return body


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _ref(value: object) -> tuple[int | str, bool] | None:
    """How to read a referenced entity: (its id, False) or (its code, True); None when it names neither."""
    if not isinstance(value, dict):
        return None
    if value.get("id") is not None:
        return value["id"], False
    if value.get("code"):
        return value["code"], True
    return None


def _ref_or_fail(value: dict[str, Any]) -> tuple[int | str, bool]:
    ref = _ref(value)
    assert ref is not None
    return ref


def _has_lines(order: object) -> bool:
    return isinstance(order, dict) and bool(order.get("products") or order.get("lines"))
