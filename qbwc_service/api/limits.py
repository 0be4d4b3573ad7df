"""The API's limit on request bodies: a declared length above it is refused before anything is read, and a body
that grows past it while being read is refused too (413); a body that stops arriving is answered 408."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qbwc_service.api.problems import problem_response


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, idle_timeout: float) -> None:
        self.app, self.max_bytes, self.idle_timeout = app, max_bytes, idle_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout)
            except TimeoutError:
                await problem_response(408, "request-timeout", "Request Timeout", "the request body stopped "
                                       f"arriving for {self.idle_timeout:g} seconds", scope.get("path"))(
                    scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await problem_response(413, "body-too-large", "Content Too Large",
                               f"the request body is larger than {self.max_bytes} bytes (api_max_body_bytes)",
                               scope.get("path"), max_bytes=self.max_bytes)(scope, receive, send)
