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
  count and duration in ``services.metrics``, by route template;
- the request's server span (``services.tracing``), when traces are on.
"""

from __future__ import annotations

import logging
import time

from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services import audit, tracing
from services.logging import correlation_id, correlation_id_from, loggable_path
from services.metrics import Metrics
from services.problems import PROBLEM_JSON, problem_bytes
from services.security import API_ONLY, HEADERS

log = logging.getLogger("request")
#: Probes and scrapes make no spans: they would drown the traces that matter.
NOT_TRACED = ("/healthz", "/readyz", "/metrics")


class BodyTooLarge(Exception):
    pass


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
        cid = correlation_id_from(scope["headers"])
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
        span = self._server_span(scope, headers)
        with tracing.current(span):
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
                _end_server_span(span, scope, route, status)
                correlation_id.reset(token)

    @staticmethod
    def _server_span(scope: Scope, headers: dict[bytes, bytes]) -> Span:
        """The request's span, continuing the caller's ``traceparent`` (``services.tracing``)."""
        if not tracing.enabled() or scope["path"] in NOT_TRACED:
            return INVALID_SPAN
        given = headers.get(b"traceparent")
        parent = tracing.extract({tracing.TRACEPARENT: given.decode("latin-1")}) if given else None
        return tracing.start(scope["method"], SpanKind.SERVER, parent, {"http.request.method": scope["method"]})

    async def _too_large(self, send: Send, cid: str) -> None:
        # No ``instance``: before routing, a credential in the path cannot be told apart.
        body = problem_bytes(413, f"request body larger than {self.max_body_bytes} bytes", correlation_id=cid)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), *HEADERS, (b"x-correlation-id", cid.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _end_server_span(span: Span, scope: Scope, route: str, status: int) -> None:
    if not span.is_recording():
        return
    span.update_name(f"{scope['method']} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("url.path", loggable_path(scope))  # a credential in it masked, as in the logs
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(StatusCode.ERROR)
    span.end()
