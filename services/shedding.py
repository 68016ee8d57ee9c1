"""Overload shed with a clear answer (issue 17): a bound on the requests a process works
on at once, and ``503`` with ``Retry-After`` past it.

Without it, at 32 concurrent clients intake's p99 grew to 1.8 s and requests passed a
2 s client timeout: they queued for the database pool, invisibly. A request that
would only wait is better refused at once, so that the client retries later (or
another replica takes it) and the ones admitted stay fast.

The bound is sized from the database pool: a request in flight holds at most one
connection, and the pool has ``DB_POOL_SIZE`` plus as many overflow connections; twice
that many are admitted, so a short queue absorbs a burst without a refusal
(``MAX_IN_FLIGHT`` overrides it). Health checks and long-lived streams (notify's live
feed) are not counted: they hold no connection while they wait.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from services.problems import PROBLEM_JSON, problem_bytes

#: Paths never refused and never counted.
NOT_COUNTED = ("/healthz", "/readyz", "/v1/feed")
RETRY_AFTER_SECONDS = 1


def in_flight_limit(pool_size: int, configured: int | None) -> int:
    """Twice the connections the pool can open (``pool_size`` plus as many overflow)."""
    return configured if configured else 2 * (pool_size * 2)


class Shed:
    """Counts the requests in flight; one over the bound is answered 503 at once."""

    def __init__(self, limit: int) -> None:
        self.limit, self.in_flight, self.refused = limit, 0, 0

    def counted(self, scope: Scope) -> bool:
        return scope["type"] == "http" and not scope["path"].startswith(NOT_COUNTED)

    async def refuse(self, send: Send) -> None:
        self.refused += 1
        body = problem_bytes(
            503,
            f"the service is at its limit of {self.limit} requests at once; retry shortly",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ShedMiddleware:
    """Plain ASGI, outermost but for the edge: a refused request costs no routing,
    no body read and no database."""

    def __init__(self, app: ASGIApp, shed: Shed) -> None:
        self.app, self.shed = app, shed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.shed.counted(scope):
            await self.app(scope, receive, send)
            return
        if self.shed.in_flight >= self.shed.limit:
            await self.shed.refuse(send)
            return
        self.shed.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.shed.in_flight -= 1
