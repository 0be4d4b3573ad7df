"""One Fusion Operations request, done properly: the account's request budget asked first, the bearer token,
a timeout, retries with a doubling backoff on connection errors and 5xx, 429 answered by waiting what
``Retry-After`` says (and pausing the whole account's budget), one renewal of the token on 401, and the
answer turned into JSON or a typed error (qbwc_service.fusion.errors). Lists follow ``pagination.nextUrl``.

A create (POST) is retried only when it certainly did not reach Fusion (no connection, 429, 503); when it
may have (a timeout after sending, another 5xx), FusionOutcomeUnknown tells the caller to look it up before
creating it again. Sleeping is injected: tests record the waits instead of waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from qbwc_service.clock import SYSTEM_CLOCK, Clock
from qbwc_service.fusion.auth import TokenSource
from qbwc_service.fusion.budget import UNLIMITED, RequestBudget
from qbwc_service.fusion.errors import (
    MESSAGE_LIMIT,
    FusionAuthFailed,
    FusionBadAnswer,
    FusionNotFound,
    FusionOutcomeUnknown,
    FusionRateLimited,
    FusionRefused,
    FusionUnavailable,
)

log = logging.getLogger(__name__)

Sleep = Callable[[float], None]
Params = Mapping[str, str | Sequence[str]]

MERGE_PATCH = "application/merge-patch+json"  # what v2 PATCH takes [C]
LIST_KEYS = ("data", "results", "items")  # where a list answer holds its entities [G: "data"]


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` per request for connection errors and 5xx, waiting ``backoff_seconds`` then double, at
    most ``max_backoff_seconds``; 429s and the budget may keep one request waiting ``max_wait_seconds`` in all."""

    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_wait_seconds: float = 300.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds))


class FusionHttp:
    """Requests to one Fusion account's API at ``base_url`` (e.g. https://api.aps.autodesk.com/fusion-operations/v2)."""

    def __init__(self, base_url: str, auth: TokenSource, *, budget: RequestBudget = UNLIMITED,
                 retry: RetryPolicy | None = None, timeout: float = 30.0, sleep: Sleep = time.sleep,
                 clock: Clock = SYSTEM_CLOCK, http: httpx.Client | None = None,
                 connection: str | None = None) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.auth, self.budget, self.retry = auth, budget, retry or RetryPolicy()
        self.sleep, self.clock, self.connection = sleep, clock, connection
        self.http = http or httpx.Client(timeout=timeout)
        self._origin = _origin(self.base_url)

    def close(self) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    # ---------------------------------------------------------------- JSON in, JSON out

    def get(self, path: str, params: Params | None = None) -> Any:
        return self._json(self.request("GET", self.url(path), params=params, idempotent=True))

    def post(self, path: str, body: Any) -> Any:
        return self._json(self.request("POST", self.url(path), body=body, idempotent=False))

    def patch(self, path: str, body: Any) -> Any:
        response = self.request("PATCH", self.url(path), body=body, idempotent=True, content_type=MERGE_PATCH)
        return self._json(response) if response.content else None

    def pages(self, path: str, params: Params | None = None) -> Iterator[dict[str, Any]]:
        """Every entity of a list, page after page, following ``pagination.nextUrl`` until there is none."""
        url, query = self.url(path), params
        seen: set[str] = set()
        while True:
            response = self.request("GET", url, params=query, idempotent=True)
            body = self._json(response)
            entities, next_url = _page(body, response)
            yield from entities
            if not next_url:
                return
            url, query = urljoin(str(response.url), next_url), None
            if _origin(url) != self._origin:
                raise FusionBadAnswer(f"the next page is on another host ({_origin(url)}); the token is not sent "
                                      "there", method="GET", url=str(response.url))
            if url in seen:
                raise FusionBadAnswer("the next page is one already read", method="GET", url=url)
            seen.add(url)

    # ---------------------------------------------------------------- one request

    def request(self, method: str, url: str, *, params: Params | None = None, body: Any = None,
                idempotent: bool, content_type: str = "application/json") -> httpx.Response:
        attempts, waited, renewed = 0, 0.0, False
        retry_after: float | None = None
        while True:
            waited = self._await_budget(method, url, waited, attempts, retry_after)
            try:
                token = self.auth.token()
            except FusionUnavailable as exc:
                attempts += 1
                if attempts >= self.retry.max_attempts:
                    raise FusionUnavailable(f"{exc.message} ({attempts} attempts)", attempts=attempts,
                                            method=exc.method, url=exc.url, status=exc.status) from exc
                self._wait(self.retry.backoff(attempts))
                continue
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = content_type
            try:
                response = self.http.request(method, url, params=_query(params), json=body, headers=headers)
            except httpx.TransportError as exc:
                reached = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                if reached and not idempotent:
                    raise FusionOutcomeUnknown(
                        f"{method} {url}: no answer from Fusion ({type(exc).__name__}); it may have been done: look "
                        "it up before doing it again", attempts=attempts + 1, method=method, url=url) from exc
                attempts += 1
                self._log_retry(method, url, type(exc).__name__, attempts)
                if attempts >= self.retry.max_attempts:
                    raise FusionUnavailable(f"Fusion could not be reached at {url} ({type(exc).__name__}) after "
                                            f"{attempts} attempts", attempts=attempts, method=method, url=url) from exc
                self._wait(self.retry.backoff(attempts))
                continue
            status = response.status_code
            if status == 401 and not renewed and self.auth.renew(token):
                renewed = True
                continue
            if status == 429:
                retry_after = self._retry_after(response) or self.retry.backoff(1)
                self.budget.pause(retry_after)
                self._log_retry(method, url, "429", attempts, retry_after)
                if waited + retry_after > self.retry.max_wait_seconds:
                    raise FusionRateLimited(f"Fusion kept answering 429 (too many requests) to {method} {url}",
                                            attempts=attempts + 1, retry_after=retry_after, method=method, url=url,
                                            status=status, fusion_message=_message(response))
                self._wait(retry_after)
                waited += retry_after
                continue
            if status >= 500:
                if not idempotent and status != 503:
                    raise FusionOutcomeUnknown(f"{method} {url}: Fusion answered {status}; it may have been done: "
                                               "look it up before doing it again", attempts=attempts + 1,
                                               method=method, url=url, status=status, fusion_message=_message(response))
                attempts += 1
                self._log_retry(method, url, str(status), attempts)
                if attempts >= self.retry.max_attempts:
                    said = _message(response)
                    raise FusionUnavailable(f"Fusion answered {status} to {method} {url} {attempts} times"
                                            f"{': ' + said if said else ''}", attempts=attempts, method=method,
                                            url=url, status=status, fusion_message=said)
                self._wait(max(self.retry.backoff(attempts), self._retry_after(response) or 0.0))
                continue
            if status >= 400:
                raise _refusal(method, url, response)
            return response

    def _await_budget(self, method: str, url: str, waited: float, attempts: int, retry_after: float | None) -> float:
        while (wait := self.budget.take()) > 0:
            if waited + wait > self.retry.max_wait_seconds:
                raise FusionRateLimited(f"the Fusion account's request budget kept {method} {url} waiting over "
                                        f"{self.retry.max_wait_seconds:g} s", attempts=attempts,
                                        retry_after=retry_after, method=method, url=url)
            self._wait(wait)
            waited += wait
        return waited

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.sleep(seconds)

    def _retry_after(self, response: httpx.Response) -> float | None:
        """``Retry-After`` in seconds (a number of seconds or an HTTP date), None when absent or unreadable."""
        value = response.headers.get("Retry-After")
        if not value:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            moment = parsedate_to_datetime(value).astimezone(UTC).replace(tzinfo=None)
        except (TypeError, ValueError):
            return None
        return max((moment - self.clock.now()).total_seconds(), 0.0)

    def _log_retry(self, method: str, url: str, why: str, attempts: int, wait: float | None = None) -> None:
        log.info("Fusion %s %s: %s, trying again%s", method, _path_of(url), why,
                 f" in {wait:g} s" if wait is not None else "",
                 extra={"connection": self.connection, "reason": why, "attempts": attempts})

    def _json(self, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise FusionBadAnswer("not JSON", method=response.request.method, url=str(response.url),
                                  status=response.status_code) from exc


def _page(body: Any, response: httpx.Response) -> tuple[list[dict[str, Any]], str | None]:
    if isinstance(body, list):
        return [e for e in body if isinstance(e, dict)], None
    if isinstance(body, dict):
        for key in LIST_KEYS:
            if isinstance(body.get(key), list):
                pagination = body.get("pagination") or {}
                next_url = pagination.get("nextUrl") if isinstance(pagination, dict) else None
                entities = [e for e in body[key] if isinstance(e, dict)]
                return entities, next_url if isinstance(next_url, str) and next_url else None
    raise FusionBadAnswer(f"not a list (no {', '.join(LIST_KEYS)})", method="GET", url=str(response.url),
                          status=response.status_code)


def _refusal(method: str, url: str, response: httpx.Response) -> FusionRefused:
    status = response.status_code
    said = _message(response)
    text = f"Fusion answered {status} to {method} {url}{': ' + said if said else ''}"
    if status in (401, 403):
        return FusionAuthFailed(f"{text} (the credentials were refused)", method=method, url=url, status=status,
                                fusion_message=said)
    if status == 404:
        path = _path_of(url)
        return FusionNotFound(text, what=path.rsplit("/", 2)[-2] if path.count("/") > 1 else path,
                              key=path.rsplit("/", 1)[-1], method=method, url=url, status=status, fusion_message=said)
    return FusionRefused(text, method=method, url=url, status=status, fusion_message=said)


def _message(response: httpx.Response) -> str | None:
    """Fusion's own words for an error, on one line: ``message``, ``detail``, ``error_description``... or the
    first of ``errors``; else the start of the text."""
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return text[:MESSAGE_LIMIT] or None
    found = _said(body)
    return " ".join(found.split())[:MESSAGE_LIMIT] if found else None


def _said(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("message", "detail", "error_description", "title", "developerMessage", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return _said(errors[0]) or str(errors[0])
    if isinstance(body, str):
        return body
    return None


def _query(params: Params | None) -> list[tuple[str, str | int | float | bool | None]] | None:
    if params is None:
        return None
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in params.items():
        pairs.extend((key, v) for v in ([value] if isinstance(value, str) else value))
    return pairs


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _path_of(url: str) -> str:
    return urlsplit(url).path
