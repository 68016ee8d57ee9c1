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
from sqlalchemy.exc import DBAPIError, OperationalError

from services.logging import correlation_id

log = logging.getLogger(__name__)
#: What a client is told to wait before retrying while the database is away.
RETRY_AFTER_SECONDS = 2


def database_unavailable(exc: BaseException) -> bool:
    """A lost or refused database connection (a restart, a failover), not a bug."""
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or isinstance(exc, OperationalError)):
        return True
    return isinstance(exc, ConnectionError | TimeoutError) or type(exc).__name__ in (
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "InterfaceError",
    )


class DomainError(Exception):
    """A request the domain refuses; the route's caller gets ``status`` and ``detail``."""

    def __init__(self, status: int, detail: object) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


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
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        cid = getattr(request.state, "correlation_id", None) or correlation_id.get()
        if database_unavailable(exc):
            log.warning("database unavailable", extra={"error": type(exc).__name__, "error_correlation_id": cid})
            body = {"detail": "the database is unavailable; retry shortly", "correlation_id": cid}
            return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        log.error("unhandled error", exc_info=exc, extra={"error_correlation_id": cid})
        return JSONResponse({"detail": "internal error", "correlation_id": cid}, status_code=500)
