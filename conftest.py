"""Fixtures shared by every test folder: the whole system as real processes on
real Postgres (or the embedded SQLite default) and a real broker, and an
independent tap on the topics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.dev.issuer import mint_user
from services.dev.stack import Stack, dev_secrets
from services.registry import add_service_paths
from shared.events import Topics
from tests.support.inprocess import token
from tests.support.own_postgres import OwnPostgres
from tests.support.postgres import create_database, drop_database
from tests.support.tap import TopicTap

add_service_paths()

#: Short timeouts and polls so the tests run in seconds, not minutes.
FAST_ENV = {
    "ENVIRONMENT": "test",
    "KAFKA_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    "KAFKA_REQUEST_TIMEOUT_MS": "3000",
    # No short polls for the relay, timers and deliveries: the workers are woken by the
    # commits that give them work (services.wakeup), and the tests rely on that.
    "DELIVERY_RETRY_BASE_SECONDS": "0.3",
    "CONSUMER_RETRY_BASE_SECONDS": "0.05",
}

TAPPED = [*Topics.all, *(Topics.dead_letter(g) for g in ("intake-svc", "routing-svc", "sla-svc", "notify-svc"))]


@dataclass
class System:
    stack: Stack
    tap: TopicTap
    backend: str
    db_name: str | None = None

    def client(self, service: str, user: str | None = None) -> httpx.Client:
        """A client of a service, signed in (as a sample user, or with every role at head office)."""
        return httpx.Client(base_url=self.stack.url(service), timeout=15, headers=self.headers(user))

    def headers(self, user: str | None = None, sub: str = "test-superuser") -> dict[str, str]:
        key = dev_secrets(self.stack.var_dir)["DEV_ISSUER_KEY"]
        signed = mint_user(key, user) if user else token(sub=sub, key=key)
        return {"Authorization": f"Bearer {signed}"}

    def readyz(self, service: str) -> dict:
        return httpx.get(f"{self.stack.url(service)}/readyz", timeout=10).json()  # type: ignore[no-any-return]


def start_system(
    tmp: Path, backend: str, *, console: bool = False, env: dict[str, str] | None = None
) -> tuple[System, str | None]:
    db_name, url = create_database() if backend == "postgres" else (None, None)
    stack = Stack(var_dir=tmp, database_url=url, env={**FAST_ENV, **(env or {})})
    try:
        stack.start(console=console)
        tap = TopicTap(stack.bootstrap or "", TAPPED).start()
    except BaseException:
        stack.stop()
        if db_name:
            drop_database(db_name)
        raise
    return System(stack, tap, backend, db_name), db_name


def stop_system(system: System, db_name: str | None) -> None:
    system.tap.stop()
    system.stack.stop()
    if db_name:
        drop_database(db_name)


@pytest.fixture(scope="module")
def pg_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system, db_name = start_system(tmp_path_factory.mktemp("pg-system"), "postgres")
    yield system
    stop_system(system, db_name)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL server of the test's own, which the test may stop and start."""
    server = OwnPostgres().init()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh Postgres database's URL, dropped after the test."""
    name, url = create_database()
    try:
        yield url
    finally:
        drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str | None]]:
    """(var_dir, DATABASE_URL) for an in-process service: the embedded default or a fresh Postgres database."""
    if request.param == "sqlite":
        yield tmp_path, None
        return
    name, url = create_database()
    try:
        yield tmp_path, url
    finally:
        drop_database(name)
