"""Error responses: clear 4xx naming what is wrong, never a stack trace; every one a
problem (RFC 9457, ``services.problems``).

Validation errors list each bad field by its location and message but do not
echo the input back (it may be oversized or hold personal data).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.logging import correlation_id, loggable_path
from services.problems import PROBLEM_JSON, FieldProblem, Problem, fields_summary, headers, problem

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
    """A request the domain refuses: the caller gets a problem (``services.problems``)
    with ``status``, ``detail`` and, where they apply, the typed extension members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[FieldProblem] | None = None,
        retry_after_seconds: int | None = None,
        case_status: str | None = None,
        allowed_actions: list[str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors
        self.retry_after_seconds = retry_after_seconds
        self.case_status, self.allowed_actions = case_status, allowed_actions

    def problem(self, instance: str, correlation_id: str | None) -> Problem:
        return problem(
            self.status,
            self.detail,
            instance=instance,
            correlation_id=correlation_id,
            errors=self.errors,
            retry_after_seconds=self.retry_after_seconds,
            case_status=self.case_status,
            allowed_actions=self.allowed_actions,
        )


Where = Literal["body", "query", "path"]


def field_errors(problems: Iterable[tuple[str | None, str]], where: Where = "body") -> DomainError:
    """A 422 naming each bad field and why, shaped as FastAPI's own validation errors
    (``loc``, ``field``, ``msg``, ``type``): the one way a route or domain function refuses
    a field. A field of ``None`` is the whole body (a file that is not one, say)."""
    errors = [
        FieldProblem(
            loc=[where, *field.split(".")] if field else [where], field=field or where, msg=msg, type="value_error"
        )
        for field, msg in problems
    ]
    return DomainError(422, fields_summary(errors), errors=errors)


def field_error(field: str | None, msg: str, where: Where = "body") -> DomainError:
    return field_errors([(field, msg)], where)


def _answer(request: Request, status: int, detail: str, **members: object) -> JSONResponse:
    members.setdefault("correlation_id", correlation_id.get())
    body = problem(status, detail, instance=loggable_path(request.scope), **members)
    return _problem_response(body)


def _problem_response(body: Problem) -> JSONResponse:
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=body.status,
        headers=headers(body.retry_after_seconds),
        media_type=PROBLEM_JSON,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldProblem(
                loc=list(err.get("loc", ())),
                field=".".join(str(p) for p in err.get("loc", ())[1:]) or str(err.get("loc", ("body",))[0]),
                msg=err.get("msg", ""),
                type=err.get("type", ""),
            )
            for err in exc.errors()
        ]
        return _answer(request, 422, fields_summary(errors), errors=errors)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return _problem_response(exc.problem(loggable_path(request.scope), correlation_id.get()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own refusals (no such route, a method not allowed) in the one shape."""
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        answer = _answer(request, exc.status_code, detail)
        answer.headers.update(exc.headers or {})
        return answer

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        cid = getattr(request.state, "correlation_id", None) or correlation_id.get()
        if database_unavailable(exc):
            log.warning("database unavailable", extra={"error": type(exc).__name__, "error_correlation_id": cid})
            detail = "the database is unavailable; retry shortly"
            return _answer(request, 503, detail, correlation_id=cid, retry_after_seconds=RETRY_AFTER_SECONDS)
        log.error("unhandled error", exc_info=exc, extra={"error_correlation_id": cid})
        return _answer(request, 500, "internal error", correlation_id=cid)

    # The database's errors (and a connection refused while it restarts) are answered
    # here, by the exception middleware; ``Exception`` is the server-error middleware's,
    # which answers and then raises again for the server to log as a crash.
    for kind in (SQLAlchemyError, OSError, Exception):
        app.add_exception_handler(kind, _unexpected)
