"""A simulated Fusion Operations API: a test double, not Fusion. It serves over real HTTP the subset of the v2
API that the service's Fusion client uses, the way ``../shared/reference/FUSION-API.md`` describes it (and,
where that is a guess, the way the client guesses), for tests, the demo and the benchmarks.

- Auth: ``Authorization: Bearer`` on every API call (401 otherwise); tokens are static ones from the seed,
  or issued by the OAuth token endpoint ``POST /authentication/v2/token`` (client credentials, or a refresh
  token, rotated at each use as APS does), expiring after ``token_lifetime`` seconds of the injected clock.
- The API under ``/fusion-operations/v2``: ``GET /me``; ``GET /{collection}`` with ``filter[field]=value``
  (repeated or comma-separated; ``lo..hi`` ranges on dates; sales and production orders OPEN only unless a
  status is asked), keyset pages of ``limit`` (default ``page_size``) with ``pagination.nextUrl``;
  ``GET /{collection}/{id}``; ``GET /products/{id}/inventory``; ``POST`` of sales orders, purchase orders
  and products (code required and unique, references resolved); ``PATCH`` as a JSON merge patch.
- The account's budget: ``requests_per_minute`` per account and clock minute, then 429 with ``Retry-After``.
- Injected failures (methods, or ``POST /_simulator/faults`` from another process): ``fail_next`` (5xx for N
  requests), ``throttle_next`` (429 bursts), ``delay_next`` (slow answers, real seconds: for timeouts),
  ``lose_next`` (the request is done, and its answer replaced by a 5xx: a create whose answer was lost).
- Seedable (``seed_fusion.json``, or a seed of your own), in memory. ``stats`` counts what it answered.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.fusion.budget import seconds
from qbwc_service.simulate._fusion_store import (
    COLLECTIONS,
    CREATABLE,
    OPEN_BY_DEFAULT,
    Account,
    Invalid,
    expiry,
    load_accounts,
    matches,
    new_secret,
    page,
)

API_PREFIX = "/fusion-operations/v2"
TOKEN_PATH = "/authentication/v2/token"
FAULTS_PATH = "/_simulator/faults"
MAX_PAGE = 100


@dataclass
class _Fault:
    remaining: int
    status: int = 503
    retry_after: int | None = None
    delay: float = 0.0
    methods: tuple[str, ...] = ()


class SimulatedFusion:
    """The simulated API's state, and its ASGI app (``app``)."""

    def __init__(self, seed: Mapping[str, Any] | Path | None = None, *, clock: Clock = SYSTEM_CLOCK,
                 requests_per_minute: int = 120, page_size: int = 50, token_lifetime: int = 3600) -> None:
        self.clock = clock
        self.accounts: dict[str, Account] = load_accounts(seed, clock.now())
        self.requests_per_minute, self.page_size, self.token_lifetime = requests_per_minute, page_size, token_lifetime
        self.issued: dict[str, tuple[str, Any]] = {}  # access token -> (account id, expires at)
        self.stats: Counter[str] = Counter()  # "served", "throttled" (budget), "injected-503", "unauthorized"...
        self.served_at: list[float] = []  # when each API request was served (clock seconds)
        self._failures: list[_Fault] = []
        self._throttles: list[_Fault] = []
        self._delays: list[_Fault] = []
        self._losses: list[_Fault] = []
        self._lock = threading.RLock()
        self.app = self._build()

    # ---------------------------------------------------------------- for tests

    @property
    def account(self) -> Account:
        """The first account (most seeds have one)."""
        return next(iter(self.accounts.values()))

    def fail_next(self, count: int, status: int = 503, retry_after: int | None = None) -> None:
        """The next ``count`` API requests are answered ``status`` (5xx), before anything is done."""
        with self._lock:
            self._failures.append(_Fault(count, status, retry_after))

    def throttle_next(self, count: int, retry_after: int = 1) -> None:
        """The next ``count`` API requests are answered 429 with ``Retry-After: retry_after``."""
        with self._lock:
            self._throttles.append(_Fault(count, 429, retry_after))

    def delay_next(self, count: int, seconds_: float) -> None:
        """The next ``count`` API requests are answered after ``seconds_`` real seconds (a slow Fusion)."""
        with self._lock:
            self._delays.append(_Fault(count, delay=seconds_))

    def lose_next(self, count: int, status: int = 502, methods: tuple[str, ...] = ("POST",)) -> None:
        """The next ``count`` API requests of these ``methods`` are done, then answered ``status`` instead of their
        result: what the caller sees when Fusion did the work and the answer was lost on the way back."""
        with self._lock:
            self._losses.append(_Fault(count, status, methods=methods))

    def add(self, collection: str, entity: Mapping[str, Any], account: str | None = None) -> dict[str, Any]:
        with self._lock:
            return self._account(account).add(collection, entity, self.clock.now())

    def entities(self, collection: str, account: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._account(account).collection(collection).values())

    def _account(self, account: str | None) -> Account:
        return self.accounts[account] if account is not None else self.account

    # ---------------------------------------------------------------- the app

    def _build(self) -> FastAPI:
        app = FastAPI(title="simulated Fusion Operations API (a test double)", docs_url=None, redoc_url=None,
                      openapi_url=None)

        @app.post(TOKEN_PATH)
        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
            return self._token(form, request.headers.get("authorization"))

        @app.post(FAULTS_PATH)
        async def faults(request: Request) -> Response:
            body = await request.json()
            count = int(body.get("count", 1))
            if body.get("throttle"):
                self.throttle_next(count, int(body.get("retry_after", 1)))
            elif body.get("lose"):
                self.lose_next(count, int(body.get("status", 502)))
            elif body.get("delay"):
                self.delay_next(count, float(body["delay"]))
            else:
                self.fail_next(count, int(body.get("status", 503)), body.get("retry_after"))
            return JSONResponse({"ok": True})

        @app.api_route(API_PREFIX + "/{path:path}", methods=["GET", "POST", "PATCH"])
        async def api(path: str, request: Request) -> Response:
            body = await request.body()
            delay = self._take(self._delays)
            if delay is not None:
                await asyncio.sleep(delay.delay)
            return self._api(request.method, path.strip("/"), request, body)

        return app

    def _take(self, faults: list[_Fault]) -> _Fault | None:
        with self._lock:
            while faults and faults[0].remaining <= 0:
                faults.pop(0)
            if not faults:
                return None
            faults[0].remaining -= 1
            return faults[0]

    def _api(self, method: str, path: str, request: Request, body: bytes) -> Response:
        failure = self._take(self._failures)
        if failure is not None:
            self.stats[f"injected-{failure.status}"] += 1
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else None
            return _error(failure.status, "Service unavailable (simulated)", headers)
        with self._lock:
            account = self._authorised(request.headers.get("authorization"))
            if account is None:
                self.stats["unauthorized"] += 1
                return _error(401, "The access token is missing, invalid or expired "
                                   "(it may not be a three-legged access token)")
            now = seconds(self.clock.now())
            minute = math.floor(now / 60)
            if account.window != minute:
                account.window, account.used = minute, 0
            if account.used >= self.requests_per_minute:
                self.stats["throttled"] += 1
                wait = max(math.ceil((minute + 1) * 60 - now), 1)
                return _error(429, "Too many requests", {"Retry-After": str(wait)})
            throttle = self._take(self._throttles)
            if throttle is not None:
                self.stats["injected-429"] += 1
                return _error(429, "Too many requests (simulated)", {"Retry-After": str(throttle.retry_after)})
            account.used += 1
            self.stats["served"] += 1
            self.served_at.append(now)
            answer = self._route(account, method, path.split("/"), request, body)
            if answer.status_code < 400 and self._losses and method in self._losses[0].methods:
                lost = self._take(self._losses)
                if lost is not None:
                    self.stats[f"lost-{lost.status}"] += 1
                    return _error(lost.status, "Bad gateway (simulated: the request was done, its answer lost)")
            return answer

    def _route(self, account: Account, method: str, parts: list[str], request: Request, body: bytes) -> Response:
        now = self.clock.now()
        if parts == ["me"] and method == "GET":
            return JSONResponse({"account": {"id": account.id, "name": account.name},
                                 "user": {"name": account.user} if account.user else None})
        collection = parts[0]
        if collection not in COLLECTIONS:
            return _error(404, f"no such resource: /{'/'.join(parts)}")
        if len(parts) == 1 and method == "GET":
            return self._list(account, collection, request)
        if len(parts) == 1 and method == "POST":
            if collection not in CREATABLE:
                return _error(405, f"{collection} cannot be created here")
            payload = _json(body)
            if not isinstance(payload, dict):
                return _error(400, "Invalid JSON")
            try:
                return JSONResponse(account.create(collection, payload, now), status_code=201)
            except Invalid as exc:
                return _error(400, str(exc))
        key = parts[1] if len(parts) > 1 else ""
        if len(parts) == 3 and collection == "products" and parts[2] == "inventory" and method == "GET":
            if account.find("products", key) is None:
                return _error(404, f"no products {key}")
            return JSONResponse(account.inventory.get(key, {"quantity": 0}))
        if len(parts) == 2 and method == "GET":
            found = account.find(collection, key)
            return JSONResponse(found) if found is not None else _error(404, f"no {collection} {key}")
        if len(parts) == 2 and method == "PATCH":
            if request.headers.get("content-type", "").split(";")[0] != "application/merge-patch+json":
                return _error(415, "PATCH takes application/merge-patch+json")
            patch = _json(body)
            if not isinstance(patch, dict):
                return _error(400, "Invalid JSON")
            patched = account.patch(collection, key, patch, now)
            return JSONResponse(patched) if patched is not None else _error(404, f"no {collection} {key}")
        return _error(405, f"{method} /{'/'.join(parts)} is not supported")

    def _list(self, account: Account, collection: str, request: Request) -> Response:
        filters: dict[str, list[str]] = {}
        for name, value in request.query_params.multi_items():
            if name.startswith("filter[") and name.endswith("]"):
                filters.setdefault(name[7:-1], []).extend(v for v in value.split(",") if v)
        if collection in OPEN_BY_DEFAULT:
            filters.setdefault("status", ["OPEN"])
        try:
            size = min(max(int(request.query_params.get("limit", self.page_size)), 1), MAX_PAGE)
            after = int(request.query_params["cursor"]) if "cursor" in request.query_params else None
        except ValueError:
            return _error(400, "limit and cursor must be numbers")
        chosen = [e for e in account.collection(collection).values() if matches(e, filters)]
        entities, next_cursor = page(chosen, after, size)
        pagination: dict[str, Any] = {"limit": size}
        if next_cursor is not None:
            query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "limit")]
            query += [("limit", str(size)), ("cursor", str(next_cursor))]
            pagination["nextUrl"] = f"{request.url.scheme}://{request.url.netloc}{request.url.path}?{urlencode(query)}"
        return JSONResponse({"data": entities, "pagination": pagination})

    def _authorised(self, header: str | None) -> Account | None:
        if not header or not header.lower().startswith("bearer "):
            return None
        token = header[7:].strip()
        for account in self.accounts.values():
            if token in account.tokens:
                return account
        issued = self.issued.get(token)
        if issued is None or issued[1] <= self.clock.now():
            return None
        return self.accounts.get(issued[0])

    # ---------------------------------------------------------------- the token endpoint

    def _token(self, form: dict[str, str], authorization: str | None) -> Response:
        client_id, client_secret = _basic(authorization) or (form.get("client_id"), form.get("client_secret"))
        grant = form.get("grant_type")
        with self._lock:
            if grant == "client_credentials":
                account = next((a for a in self.accounts.values()
                                if client_id in a.clients and a.clients[client_id] == client_secret), None)
                if account is None:
                    self.stats["token-refused"] += 1
                    return JSONResponse({"error": "invalid_client", "error_description": "unknown client or secret"},
                                        status_code=401)
                return self._issue(account, None)
            if grant == "refresh_token":
                refresh = form.get("refresh_token", "")
                account = next((a for a in self.accounts.values() if refresh in a.refresh_tokens), None)
                known_secret = account.clients.get(client_id or "") if account is not None else None
                if account is None or account.refresh_tokens[refresh] != client_id or (
                        client_secret is not None and known_secret not in (None, client_secret)):
                    self.stats["token-refused"] += 1
                    return JSONResponse({"error": "invalid_grant", "error_description": "the refresh token is "
                                         "invalid, expired or already used"}, status_code=400)
                del account.refresh_tokens[refresh]  # single use: rotated
                rotated = new_secret()
                account.refresh_tokens[rotated] = client_id or ""
                return self._issue(account, rotated)
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def _issue(self, account: Account, refresh: str | None) -> Response:
        access = new_secret()
        self.issued[access] = (account.id, expiry(self.clock.now(), self.token_lifetime))
        self.stats["tokens-issued"] += 1
        answer: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": self.token_lifetime}
        if refresh is not None:
            answer["refresh_token"] = refresh
        return JSONResponse(answer)


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _json(body: bytes) -> Any:
    import json

    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [{"status": status, "detail": message}]}, status_code=status, headers=headers)
