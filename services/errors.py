"""Error responses: clear 4xx naming what is wrong, never a stack trace.

Validation errors list each bad field by its location and message but do not
echo the input back (it may be oversized or hold personal data).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from services.logging import correlation_id

log = logging.getLogger(__name__)
#: What a client is told to wait before retrying while the database is away.
RETRY_AFTER_SECONDS = 2


#: Errors (by class name, as drivers wrap them) that mean the server is away or refusing
#: connections: asyncpg's, psycopg's and SQLAlchemy's names for the same thing.
UNAVAILABLE_NAMES = frozenset(
    {
        "AdminShutdownError",
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "ConnectionRejectionError",
        "CrashShutdownError",
        "InterfaceError",
        "PostgresConnectionError",
        "TooManyConnectionsError",
    }
)
#: SQLSTATE classes that mean the same: 08 connection exception, 57 operator
#: intervention (a shutdown or restart), 53 insufficient resources (too many clients).
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57", "53")


def _causes(exc: BaseException) -> list[BaseException]:
    """The error and what it wraps (SQLAlchemy's ``orig``, Python's cause and context)."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending and len(found) < 10:
        e = pending.pop()
        if e is None or any(e is seen for seen in found):
            continue
        found.append(e)
        orig = getattr(e, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None, e.__cause__, e.__context__]
    return found


def database_unavailable(exc: BaseException) -> bool:
    """A lost, refused or exhausted database connection (a restart, a failover, a full
    pool, a locked SQLite file), not a bug: the request may be retried as it was."""
    for e in _causes(exc):
        if isinstance(e, DBAPIError) and (e.connection_invalidated or isinstance(e, OperationalError)):
            return True
        if isinstance(e, PoolTimeout | ConnectionError | TimeoutError) or type(e).__name__ in UNAVAILABLE_NAMES:
            return True
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
        if isinstance(state, str) and state[:2] in UNAVAILABLE_SQLSTATE_CLASSES:
            return True
    return False


class DomainError(Exception):
    """A request the domain refuses; the route's caller gets ``status`` and ``detail``."""

    def __init__(self, status: int, detail: object, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.headers = headers  # e.g. Retry-After on a 429


Where = Literal["body", "query", "path"]


def field_errors(problems: Iterable[tuple[str | None, str]], where: Where = "body") -> DomainError:
    """A 422 naming each bad field and why, shaped as FastAPI's own validation errors
    (``loc``, ``field``, ``msg``, ``type``): the one way a route or domain function refuses
    a field. A field of ``None`` is the whole body (a file that is not one, say)."""
    return DomainError(
        422,
        [
            {
                "loc": [where, *field.split(".")] if field else [where],
                "field": field or where,
                "msg": msg,
                "type": "value_error",
            }
            for field, msg in problems
        ],
    )


def field_error(field: str | None, msg: str, where: Where = "body") -> DomainError:
    return field_errors([(field, msg)], where)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": list(err.get("loc", ())),
                "field": ".".join(str(p) for p in err.get("loc", ())[1:]) or str(err.get("loc", ("body",))[0]),
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        cid = getattr(request.state, "correlation_id", None) or correlation_id.get()
        if database_unavailable(exc):
            log.warning("database unavailable", extra={"error": type(exc).__name__, "error_correlation_id": cid})
            body = {"detail": "the database is unavailable; retry shortly", "correlation_id": cid}
            return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        log.error("unhandled error", exc_info=exc, extra={"error_correlation_id": cid})
        return JSONResponse({"detail": "internal error", "correlation_id": cid}, status_code=500)

    # The database's errors (and a connection refused while it restarts) are answered
    # here, by the exception middleware; ``Exception`` is the server-error middleware's,
    # which answers and then raises again for the server to log as a crash.
    for kind in (SQLAlchemyError, OSError, Exception):
        app.add_exception_handler(kind, _unexpected)
