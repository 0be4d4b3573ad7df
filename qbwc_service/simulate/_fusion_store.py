"""The simulated Fusion Operations API's data: accounts (their credentials, entities, budgets), filters as v2
takes them, keyset pages, creates and merge patches. No HTTP here; ``fusion.py`` serves it.

Seed format (JSON)::

    {"format": "simulated-fusion-operations",
     "accounts": [{"id": "1001", "name": "Acme Manufacturing", "user": "ops@example.com",
                   "tokens": ["..."],                                      # static bearer tokens
                   "clients": [{"client_id": "...", "client_secret": "..."}],
                   "refresh_tokens": [{"client_id": "...", "refresh_token": "..."}],
                   "entities": {"clients": [...], "products": [...], "sales-orders": [...], ...},
                   "inventory": {"<product id>": {"quantity": 12}}}]}
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

SEED_FORMAT = "simulated-fusion-operations"
SEED_FUSION = Path(__file__).with_name("seed_fusion.json")

COLLECTIONS = ("clients", "markets", "suppliers", "products", "workers", "sales-orders", "purchase-orders",
               "receivings", "shippings", "production-orders", "production-records")
CREATABLE = ("sales-orders", "purchase-orders", "products")
OPEN_BY_DEFAULT = ("sales-orders", "production-orders")  # v2 lists OPEN only when no status is asked [C]
REFERENCES = {"client": "clients", "supplier": "suppliers", "market": "markets", "product": "products"}


class SeedError(ValueError):
    """A seed that cannot be loaded."""


class Invalid(ValueError):
    """A create or patch that Fusion would refuse (400)."""


def iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


@dataclass
class Account:
    id: str
    name: str
    user: str | None = None
    tokens: set[str] = field(default_factory=set)
    clients: dict[str, str] = field(default_factory=dict)  # client id -> secret
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> client id
    entities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {c: {} for c in COLLECTIONS})
    inventory: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 100_000
    window: int = -1  # the minute the budget counts
    used: int = 0  # requests served in that minute

    def collection(self, name: str) -> dict[str, dict[str, Any]]:
        return self.entities.setdefault(name, {})

    def add(self, collection: str, entity: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """Keep ``entity`` as given (an id is given when it has none; timestamps when absent)."""
        made = copy.deepcopy(dict(entity))
        if made.get("id") is None:
            made["id"] = self.new_id()
        made.setdefault("createdAt", iso(now))
        made.setdefault("updatedAt", made["createdAt"])
        self.collection(collection)[str(made["id"])] = made
        return made

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def find(self, collection: str, key: str) -> dict[str, Any] | None:
        return self.collection(collection).get(key)

    def by_ref(self, collection: str, ref: object) -> dict[str, Any] | None:
        if not isinstance(ref, dict):
            return None
        if ref.get("id") is not None:
            return self.find(collection, str(ref["id"]))
        code = ref.get("code")
        if code:
            return next((e for e in self.collection(collection).values() if e.get("code") == code), None)
        return None

    def create(self, collection: str, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """A create as v2 takes it: ``code`` required and unique; references ({id} or {code}) must exist and are
        answered as {id, code, name}."""
        code = body.get("code")
        if not isinstance(code, str) or not code.strip():
            raise Invalid("code is required")
        if len(code) > 255:
            raise Invalid("code is longer than 255 characters")
        if any(e.get("code") == code for e in self.collection(collection).values()):
            raise Invalid(f"code {code!r} is already used")
        made = {k: v for k, v in copy.deepcopy(dict(body)).items() if k not in ("id", "createdAt", "updatedAt")}
        for key, target in REFERENCES.items():
            if key in made:
                made[key] = self._resolved(target, made[key], key)
        for position, line in enumerate(made.get("products") or made.get("lines") or []):
            if isinstance(line, dict) and "product" in line:
                line["product"] = self._resolved("products", line["product"], f"products[{position}].product")
                line.setdefault("id", self.new_id())
        if collection in OPEN_BY_DEFAULT or collection == "purchase-orders":
            made.setdefault("status", "OPEN")
        made["id"] = self.new_id()
        made["createdAt"] = made["updatedAt"] = iso(now)
        self.collection(collection)[str(made["id"])] = made
        return made

    def _resolved(self, collection: str, ref: object, where: str) -> dict[str, Any]:
        found = self.by_ref(collection, ref)
        if found is None:
            raise Invalid(f"{where}: no {collection} {json.dumps(ref)}")
        return {k: found[k] for k in ("id", "code", "name") if k in found}

    def patch(self, collection: str, key: str, patch: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
        entity = self.find(collection, key)
        if entity is None:
            return None
        merged: dict[str, Any] = merge_patch(entity, patch)
        merged["id"], merged["updatedAt"] = entity["id"], iso(now)
        self.collection(collection)[key] = merged
        return merged


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: what the patch names replaces, null removes, the rest stays."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------- lists


def matches(entity: Mapping[str, Any], filters: Mapping[str, list[str]]) -> bool:
    """v2 filters: ``filter[a.b]`` equals one of its values (repeated, or comma-separated); dates and times
    (fields ending in At, Date or Time) take ranges ``lo..hi``, ``lo..``, ``..hi``."""
    for path, wanted in filters.items():
        value = dotted(entity, path)
        if path.endswith(("At", "Date", "Time")):
            if not any(in_range(value, w) for w in wanted):
                return False
        elif value is None or str(value) not in wanted:
            return False
    return True


def dotted(entity: Mapping[str, Any], path: str) -> Any:
    value: Any = entity
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def in_range(value: Any, wanted: str) -> bool:
    if value is None:
        return False
    text = _instant(str(value))
    if ".." not in wanted:
        return text == _instant(wanted)
    low, high = (_instant(part) if part else None for part in wanted.split("..", 1))
    return (low is None or text >= low) and (high is None or text <= high)


def _instant(text: str) -> str:
    """Comparable text: ISO dates and times in UTC, without the Z."""
    return text.strip().removesuffix("Z").replace(" ", "T")


def page(entities: Iterable[dict[str, Any]], after: int | None, size: int) -> tuple[list[dict[str, Any]], int | None]:
    """Keyset pages in id order: ``size`` entities after id ``after``, and the cursor of the next page (None on
    the last). Entities added between two pages are met when their id comes, never skipped by an offset."""
    ordered = sorted((e for e in entities if after is None or _id(e) > after), key=_id)
    chunk = ordered[:size]
    return chunk, (_id(chunk[-1]) if len(ordered) > size else None)


def _id(entity: Mapping[str, Any]) -> int:
    try:
        return int(entity["id"])
    except (TypeError, ValueError):
        return 0


# ---------------------------------------------------------------- seeds


def load_accounts(seed: Mapping[str, Any] | Path | None, now: datetime) -> dict[str, Account]:
    data: Any
    if seed is None or isinstance(seed, Path):
        path = seed or SEED_FUSION
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SeedError(f"cannot read the Fusion seed {path}: {exc}") from exc
    else:
        data = seed
    if not isinstance(data, dict) or data.get("format") != SEED_FORMAT:
        raise SeedError(f"not a simulated Fusion seed (its \"format\" must be {SEED_FORMAT!r})")
    accounts: dict[str, Account] = {}
    for raw in data.get("accounts") or []:
        account = Account(id=str(raw["id"]), name=str(raw.get("name") or raw["id"]), user=raw.get("user"),
                          tokens=set(raw.get("tokens") or []),
                          clients={c["client_id"]: c["client_secret"] for c in raw.get("clients") or []},
                          refresh_tokens={r["refresh_token"]: r["client_id"] for r in raw.get("refresh_tokens") or []},
                          inventory={str(k): dict(v) for k, v in (raw.get("inventory") or {}).items()})
        for collection, entities in (raw.get("entities") or {}).items():
            if collection not in COLLECTIONS:
                raise SeedError(f"unknown collection {collection!r} (known: {', '.join(COLLECTIONS)})")
            for entity in entities:
                account.add(collection, entity, now)
        accounts[account.id] = account
    if not accounts:
        raise SeedError("the seed has no account")
    return accounts


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def expiry(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)
