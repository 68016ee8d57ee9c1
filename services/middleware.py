"""The one middleware in front of every route: plain ASGI, one wrapper around ``send``.

Each of these used to be a middleware of its own; stacked, their wrappers were a
tenth of intake's time per request (issue 14's profile), so they are one now:

- the correlation id: taken from ``X-Correlation-Id`` or made, echoed back, and
  set for logs and produced events;
- a body size limit: ``413`` before the body is read, whether or not the client
  sent ``Content-Length``;
- the security headers (``services.security``), on every response;
- audit capture (``services.audit``): a write is recorded in its own transaction by
  the session's commit, anything else audited after the response;
- one log line per request with method, path, status and duration (no query
  string or body, so no personal data reaches the logs), and the request's
  count and duration in ``services.metrics``, by route template.
"""

from __future__ import annotations

import json
import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services import audit
from services.logging import correlation_id, new_correlation_id
from services.metrics import Metrics
from services.security import API_ONLY, HEADERS

log = logging.getLogger("request")
#: Path parameters that are credentials (a Zammad-style CTI URL carries its API key as
#: its last segment, ``services.auth.AllowKeyInPath``): masked in every log line.
SECRET_PATH_PARAMS = ("token",)
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class BodyTooLarge(Exception):
    pass


def loggable_path(scope: Scope) -> str:
    """The request's path with any credential in it masked."""
    path: str = scope["path"]
    params = scope.get("path_params") or {}
    for name in SECRET_PATH_PARAMS:
        if params.get(name):
            path = path.replace(str(params[name]), "***")
    return path


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

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
        extra = HEADERS + (API_ONLY if scope["path"].startswith("/v1/") else [])
        cid_header = (b"x-correlation-id", cid.encode())

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def edge_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [h for h in extra if h[0] not in present]
                headers.append(cid_header)
                message["headers"] = headers
            await send(message)

        audited = audit.begin(scope)
        try:
            await self.app(scope, limited_receive, edge_send)
        except BodyTooLarge:
            status = 413
            await self._too_large(send, cid)
        finally:
            await audit.end(scope, audited, status)
            route = getattr(scope.get("route"), "path", "unmatched")  # the template: no ids, no keys
            self.metrics.observe_request(scope["method"], route, status, time.perf_counter() - started)
            if scope["path"] not in ("/healthz", "/readyz"):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": loggable_path(scope),
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
                "headers": [(b"content-type", b"application/json"), *HEADERS, (b"x-correlation-id", cid.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
