"""The console's application: pages, static files, and what a refusal looks like.

It shares the services' edge middleware (correlation id, security headers, body limit,
one log line per request without query strings) and logging, and nothing else: it
owns no schema, publishes no events and consumes none.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from console import newcase, reports, work
from console.apis import ApiRefused, Apis, ApiUnavailable
from console.oidc import Provider, SignInFailed
from console.pages import render
from console.routes import SignInNeeded, router
from console.sessions import Sessions
from console.settings import ConsoleSettings, check
from console.state import ConsoleState
from console.words import locale_of
from services import logging as service_logging
from services import tracing
from services.dev.issuer import SAMPLE_USERS
from services.metrics import Metrics
from services.middleware import EdgeMiddleware


def create_app(settings: ConsoleSettings) -> FastAPI:
    check(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service_logging.configure("console-svc", settings.log_level)
        secret = settings.session_secret or secrets.token_urlsafe(32)  # development: sessions end with the process
        apis = Apis(settings.api_urls, settings.api_timeout_seconds)
        app.state.console = ConsoleState(
            settings=settings,
            sessions=Sessions(secret, secure=not settings.is_development, hours=settings.session_hours),
            apis=apis,
            sample_users=dict(SAMPLE_USERS) if settings.dev_issuer_key else {},
            provider=Provider(settings, apis.client) if settings.oidc_configured else None,
        )
        try:
            yield
        finally:
            await apis.close()

    app = FastAPI(
        title="console-svc",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        telemetry=tracing.FASTAPI_TELEMETRY,
    )
    app.include_router(router)
    app.include_router(newcase.router)
    app.include_router(work.router)
    app.include_router(reports.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_exception_handler(SignInNeeded, _sign_in)  # type: ignore[arg-type]  # (Starlette types handlers loosely)
    app.add_exception_handler(ApiRefused, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(ApiUnavailable, _unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(SignInFailed, _sign_in_failed)  # type: ignore[arg-type]
    app.state.metrics = Metrics()  # GET /metrics: its requests by route (it keeps no outbox, no consumer)
    app.add_middleware(EdgeMiddleware, max_body_bytes=64 * 1024, metrics=app.state.metrics)
    return app


def _locale(request: Request) -> str:
    person = request.app.state.console.sessions.read(request)
    return locale_of(person.locale if person else None)


async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
    return RedirectResponse(f"/signin?next={exc.next_path}", status_code=303)


async def _refused(request: Request, exc: ApiRefused) -> Response:
    if exc.status == 401:  # the token ran out: sign in again
        return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
    person = request.app.state.console.sessions.read(request)
    kind = {403: "forbidden", 404: "not_found"}.get(exc.status, "forbidden")
    status = exc.status if exc.status in (403, 404, 409, 422) else 403
    return render("error.html", person, _locale(request), status=status, kind=kind, detail=exc.detail)


async def _sign_in_failed(request: Request, exc: SignInFailed) -> Response:
    return render("error.html", None, _locale(request), status=403, kind="forbidden", detail=str(exc))


async def _unavailable(request: Request, exc: ApiUnavailable) -> Response:
    person = request.app.state.console.sessions.read(request)
    response = render("error.html", person, _locale(request), status=503, kind="unavailable", detail=exc.service)
    response.headers["Retry-After"] = "5"
    return response
