"""Per-request context as plain ASGI (cheaper than ``BaseHTTPMiddleware``).

- the correlation id: taken from ``X-Correlation-Id`` or made, echoed back, and
  set for logs and produced events;
- a body size limit: ``413`` before the body is read, whether or not the client
  sent ``Content-Length``;
- one log line per request with method, path, status and duration (no query
  string or body, so no personal data reaches the logs).
"""

from __future__ import annotations

import json
import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.logging import correlation_id, new_correlation_id

log = logging.getLogger("request")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class BodyTooLarge(Exception):
    pass


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-correlation-id", b"").decode("latin-1")
        cid = given if _VALID_ID.match(given) else new_correlation_id()
        token = correlation_id.set(cid)
        scope.setdefault("state", {})["correlation_id"] = cid  # for the 500 handler, which runs outside
        started = time.perf_counter()
        status = 500
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large(send, cid)
            correlation_id.reset(token)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-correlation-id", cid.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            status = 413
            await self._too_large(send, cid)
        finally:
            if scope["path"] not in ("/healthz", "/readyz"):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            correlation_id.reset(token)

    async def _too_large(self, send: Send, cid: str) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_body_bytes} bytes"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"x-correlation-id", cid.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
