"""Overload shed with a clear answer (issue 17): a bound on the requests a process works
on at once, and ``503`` with ``Retry-After`` past it.

Without it, at 32 concurrent clients intake's p99 grew to 1.8 s and requests passed a
2 s client timeout: they queued for the database pool, invisibly. A request that
would only wait is better refused at once, so that the client retries later (or
another replica takes it) and the ones admitted stay fast.

The bound is sized from the database pool: a request in flight holds at most one
connection, and the pool has ``DB_POOL_SIZE`` plus ``DB_POOL_OVERFLOW`` connections; twice
that many are admitted, so a short queue absorbs a burst without a refusal
(``MAX_IN_FLIGHT`` overrides it). Health checks and long-lived streams (notify's live
feed) are not counted: they hold no connection while they wait.

The bound is on a crowd that stays, not on a moment's (decision 0029). A request over
the bound is still admitted while the service has been over it for less than
``SHED_GRACE_SECONDS`` (0.25 s), up to ``CEILING`` times the bound in flight; past the
grace, or at the ceiling, it is refused until the crowd falls below the bound. Why: at
500 cases/s, a pause of ~100 ms (Postgres or the scheduler; not the event loop) lets
40 requests gather, and the bound refused 79 of 30,000 cases in a minute that intake otherwise kept
up with (p99 71 ms, 2026-12-05): each refused client waits ``Retry-After`` (1 s) and
tries again, four times longer than the grace would have kept it. A crowd that
stays (overload) is still refused within the grace, so the waits stay bounded.

A refusal must cost next to nothing, or refusing is what overload is spent on. It
used to pass through the edge middleware, which logged it and audited it (a POST is
a write) in a database transaction of its own, after the in-flight count had let it
go: at 1,500 requests/s against intake, each refusal cost ~0.5 ms of CPU and an
audit insert queued for the pool, and the requests admitted starved behind them
(66 cases accepted in 10 s; issue 14's burst, 2026-12-03). So the shedder is the
outermost middleware and answers on its own (decision 0018):

- the security headers and a correlation id (the caller's, or a new one) as the edge
  would add them; ``Retry-After``; the problem body;
- no audit row: nothing was attempted, no caller was even identified, and an
  availability refusal is not an access decision (the audit log records those);
- no log line each: ``http_requests_shed_total`` counts them, and one warning at
  most every ``LOG_EVERY_SECONDS`` says how many were refused since the last.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from services.logging import correlation_id_from
from services.problems import PROBLEM_JSON, problem_bytes
from services.security import API_ONLY, HEADERS

log = logging.getLogger(__name__)
#: Paths never refused and never counted.
NOT_COUNTED = ("/healthz", "/readyz", "/v1/feed")
RETRY_AFTER_SECONDS = 1
LOG_EVERY_SECONDS = 10.0
#: In flight at most this many times the bound, grace or not.
CEILING = 4


def in_flight_limit(connections: int, configured: int | None) -> int:
    """Twice the connections the pool can open (kept plus overflow)."""
    return configured if configured else 2 * connections


class Shed:
    """Counts the requests in flight; one over the bound is answered 503 at once, unless
    the service went over it less than ``grace`` seconds ago (and is under the
    ceiling). ``on_refuse`` is called for each refusal (the service's metrics counter)."""

    def __init__(self, limit: int, on_refuse: Callable[[], None] | None = None, grace: float = 0.0) -> None:
        self.limit, self.in_flight, self.refused = limit, 0, 0
        self.ceiling, self.grace = CEILING * limit, grace
        #: When the crowd in flight last reached the bound; None: it is under it.
        self.over_since: float | None = None
        self.on_refuse = on_refuse
        self._logged_at, self._logged_count = 0.0, 0
        self._detail = f"the service is at its limit of {limit} requests at once; retry shortly"
        self._headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            *HEADERS,
        ]

    def counted(self, scope: Scope) -> bool:
        return scope["type"] == "http" and not scope["path"].startswith(NOT_COUNTED)

    def admit(self) -> bool:
        """Whether one more request may be worked on now (and it is then counted in)."""
        if self.in_flight < self.limit:
            self.over_since = None
        else:
            now = time.monotonic()
            if self.over_since is None:
                self.over_since = now
            if self.in_flight >= self.ceiling or now - self.over_since >= self.grace:
                return False
        self.in_flight += 1
        return True

    async def refuse(self, scope: Scope, send: Send) -> None:
        self.refused += 1
        if self.on_refuse is not None:
            self.on_refuse()
        self._summarise()
        cid = correlation_id_from(scope["headers"])
        body = problem_bytes(503, self._detail, retry_after_seconds=RETRY_AFTER_SECONDS, correlation_id=cid)
        api_only = API_ONLY if scope["path"].startswith("/v1/") else []
        headers = [*self._headers, *api_only, (b"x-correlation-id", cid.encode())]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _summarise(self) -> None:
        now = time.monotonic()
        if now - self._logged_at < LOG_EVERY_SECONDS:
            return
        log.warning(
            "shedding load: requests refused at the in-flight limit",
            extra={"refused": self.refused - self._logged_count, "limit": self.limit},
        )
        self._logged_at, self._logged_count = now, self.refused


class ShedMiddleware:
    """Plain ASGI, the outermost of the service's middlewares: a refused request costs
    no edge work, no routing, no body read, no audit row and no database."""

    def __init__(self, app: ASGIApp, shed: Shed) -> None:
        self.app, self.shed = app, shed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.shed.counted(scope):
            await self.app(scope, receive, send)
            return
        if not self.shed.admit():
            await self.shed.refuse(scope, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.shed.in_flight -= 1
