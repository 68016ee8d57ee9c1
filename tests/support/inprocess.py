"""One service in the test's own process: migrated, its lifespan running, called
through ASGI. The broker address points nowhere, so produced events stay in the
outbox where the test can count them."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

from services.app import ServiceSpec, create_app
from services.consumer import ConsumerRunner
from services.database import resolve_url
from services.dev.broker import free_port
from services.dev.issuer import generate_key, mint, peer_token
from services.migrate import upgrade
from services.runtime import Runtime
from services.serve import QuietServer
from shared.auth import Role

UNREACHABLE_BROKER = "127.0.0.1:9"


#: One development issuer key for every service a test runs in-process, so that a
#: token works across them (as in ``make run``).
DEV_KEY = generate_key()
ALL_ROLES = [r.value for r in Role]


def token(
    roles: list[str] | None = None, branch: str | None = "HO", sub: str = "test-superuser", key: str = DEV_KEY
) -> str:
    """A bearer token of the development issuer; by default every role, head office."""
    return mint(key, sub, ALL_ROLES if roles is None else roles, branch)


def auth_headers(
    roles: list[str] | None = None, branch: str | None = "HO", sub: str = "test-superuser"
) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(roles, branch, sub)}"}


def secrets_for_tests() -> dict[str, str]:
    return {
        "field_encryption_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "field_hash_key": secrets.token_urlsafe(16),
        "dev_issuer_key": DEV_KEY,
    }


@dataclass
class InProcess:
    client: httpx.AsyncClient
    runtime: Runtime
    app: Any = None  # the ASGI application (its ``state``: e.g. the shed's counts)

    @property
    def url(self) -> str:
        return str(self.client.base_url).rstrip("/")

    async def count(self, table: Any) -> int:
        async with self.runtime.db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)

    async def emitted(self, topic: str) -> list[dict[str, Any]]:
        """Envelopes this service staged in its outbox (the broker is unreachable here), in order."""
        outbox = self.runtime.tables.outbox
        async with self.runtime.db.session() as session:
            rows = (
                await session.execute(select(outbox.c.value).where(outbox.c.topic == topic).order_by(outbox.c.id))
            ).all()
        return [json.loads(r.value) for r in rows]

    def feeder(self) -> ConsumerRunner:
        """The service's consumer logic without a broker: ``await feeder.apply(envelope)``."""
        rt = self.runtime
        return ConsumerRunner(
            rt.name,
            rt.db,
            rt.tables,
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            rt.spec.subscriptions,
            rt.status,
            context=rt,
            max_attempts=1,
            retry_base=0.0,
        )


async def _migrated_app(spec: ServiceSpec, var_dir: Path, database_url: str | None, overrides: dict[str, Any]) -> Any:
    settings = spec.settings_class(
        environment="test",
        var_dir=var_dir,
        database_url=database_url,
        kafka_bootstrap_servers=UNREACHABLE_BROKER,
        **{**secrets_for_tests(), **overrides},
    )
    if "peer_token" in type(settings).model_fields and getattr(settings, "peer_token", None) is None:  # notify-svc
        settings = settings.model_copy(update={"peer_token": peer_token(DEV_KEY)})
    url = resolve_url(settings.database_url, settings.var_dir, spec.name)
    await asyncio.to_thread(upgrade, spec.migrations_dir, url, spec.schema)
    return create_app(spec, settings)


@asynccontextmanager
async def running(
    spec: ServiceSpec, var_dir: Path, database_url: str | None, **overrides: Any
) -> AsyncIterator[InProcess]:
    app = await _migrated_app(spec, var_dir, database_url, overrides)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=auth_headers()) as client:
            yield InProcess(client, app.state.runtime, app)


@asynccontextmanager
async def serving(
    spec: ServiceSpec, var_dir: Path, database_url: str | None, **overrides: Any
) -> AsyncIterator[InProcess]:
    """Like ``running``, but listening on a real port (``.url``), for peers that call it
    over HTTP and for streaming responses."""
    port = free_port()
    app = await _migrated_app(spec, var_dir, database_url, {**overrides, "port": port})
    server = QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15, headers=auth_headers()) as client:
            yield InProcess(client, app.state.runtime)
    finally:
        server.stop()
        await task
