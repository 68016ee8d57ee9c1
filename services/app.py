"""Builds a service's FastAPI app from its ``ServiceSpec``: one way for all four.

The lifespan connects the database, then runs the broker-facing parts (topic
provisioning, outbox relay, consumer) in a supervised task that keeps retrying
while the broker is away, so a service starts and accepts work without it. Workers
(timers, delivery loops) run beside them. Shutdown stops the consumer (leaving
its group), gives the relay a last flush, and closes the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.ext.asyncio import AsyncSession

from services import failpoints, tracing
from services import logging as service_logging
from services.audit import record_in_transaction, unrecord_on_rollback
from services.audit import router as audit_router
from services.auth import Authenticator, ScopedCase
from services.consumer import ConsumerRunner, Subscription
from services.database import Database, resolve_url
from services.errors import install_error_handlers
from services.health import router as health_router
from services.kafka import FetchPace, ensure_topics, make_consumer, make_producer
from services.keys import router as keys_router
from services.metrics import Metrics
from services.middleware import EdgeMiddleware
from services.openapi import with_security
from services.permissions import check_routes
from services.relay import OutboxRelay
from services.rotation import key_rotation_worker
from services.runtime import Runtime
from services.security import check_production_settings
from services.settings import ServiceSettings
from services.shedding import Shed, ShedMiddleware, in_flight_limit
from services.tables import RuntimeTables
from shared.events import Topics
from shared.ops import OpsAlert

log = logging.getLogger(__name__)

Worker = Callable[[Runtime], Awaitable[None]]


@dataclass
class ServiceSpec:
    """Everything that makes one service different from another."""

    name: str
    schema: str
    settings_class: type[ServiceSettings]
    runtime_tables: RuntimeTables
    migrations_dir: Path
    routers: list[APIRouter]
    produces: list[str] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    on_startup: Callable[[Runtime], Awaitable[None]] | None = None
    #: Columns holding values encrypted with the field key: (table, primary key, columns),
    #: re-encrypted in the background after a key rotation (``services.rotation``).
    encrypted: list[tuple[Any, str, list[str]]] = field(default_factory=list)
    #: The case as this service knows it (at least its branch, assignee and owner), or None:
    #: every route under ``/cases/{case_id}`` is then refused (404) to callers who may not
    #: see the case, and the route gets the same record (``services.deps.case_or_404``).
    case_loader: Callable[[Any, uuid.UUID], Awaitable[ScopedCase | None]] | None = None
    #: What this service has to tell ops about itself right now (``/readyz``, ``shared.ops``).
    ops_alerts: Callable[[Runtime], list[OpsAlert]] | None = None
    #: Fills this service's scrape-time gauges (``services.metrics``), in the scrape's session.
    on_scrape: Callable[[Runtime, AsyncSession], Awaitable[None]] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.runtime_tables.producer != self.name:  # the events it publishes name it
            raise ValueError(f"{self.name}'s runtime tables publish as {self.runtime_tables.producer}")


def create_app(spec: ServiceSpec, settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or spec.settings_class()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service_logging.configure(spec.name, settings.log_level)
        tracing.configure(spec.name)  # off unless OTEL_TRACES_EXPORTER names an exporter
        db = Database(
            resolve_url(settings.database_url, settings.var_dir, spec.name),
            spec.schema,
            settings.db_pool_size,
            settings.db_lock_wait_seconds,
            settings.db_pool_overflow,
        )
        await db.wait_until_up(settings.db_wait_seconds)
        if settings.wakeup_notify:
            db.wakeups.start()
        db.before_commit(record_in_transaction)
        db.after_rollback(unrecord_on_rollback)
        runtime = Runtime(spec=spec, settings=settings, db=db, metrics=metrics)
        metrics.watch(runtime)
        runtime.auth = Authenticator(runtime)
        app.state.runtime = runtime
        if spec.on_startup:
            await spec.on_startup(runtime)
        tasks = [asyncio.create_task(_broker_parts(runtime), name="broker")]
        if settings.loop_lag_period_seconds:
            tasks.append(asyncio.create_task(metrics.loop_lag.run(settings.loop_lag_period_seconds), name="loop_lag"))
        workers = [*spec.workers, key_rotation_worker]
        tasks += [asyncio.create_task(_supervised(w, runtime), name=w.__name__) for w in workers]
        log.info("service started", extra={"port": settings.port, "database": "sqlite" if db.is_sqlite else "postgres"})
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for close in runtime.closers:
                await close()
            await db.dispose()
            tracing.shutdown()
            log.info("service stopped")

    check_production_settings(settings)
    failpoints.arm(settings.failpoints)  # a bad name stops the start-up, naming it
    metrics = Metrics()
    # No documentation routes yet: FastAPI would put them first; they are added last (below).
    app = FastAPI(
        title=spec.name,
        description=spec.description,
        lifespan=lifespan,
        telemetry=tracing.FASTAPI_TELEMETRY,
        openapi_url=None,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id", "Last-Event-ID"],
        )
    app.add_middleware(EdgeMiddleware, max_body_bytes=settings.max_body_bytes, metrics=metrics)
    # Outside the edge: a refusal costs no edge work, no audit row (services.shedding).
    app.state.shed = Shed(
        in_flight_limit(settings.db_pool_size + settings.db_pool_overflow, settings.max_in_flight),
        metrics.shed.inc,
        grace=settings.shed_grace_seconds,
    )
    app.add_middleware(ShedMiddleware, shed=app.state.shed)
    install_error_handlers(app)
    # The service's own routes first, then health, then the documentation: a request
    # is matched against the routes in order, and each route tried before its own cost
    # a new case ~25,000 instructions (FastAPI 0.165's included routers; ~7,000 each of
    # the four documentation routes). /healthz and /metrics are asked every few seconds,
    # the API hundreds of times a second. No two paths overlap (/v1/... against
    # /healthz, /readyz, /metrics, /openapi.json, /docs, /redoc), so the order changes
    # no answer. Per new case (bench.instructions): 2,799,481 -> 2,722,984 with health
    # last, -> 2,695,516 with the documentation last too.
    for router in [*spec.routers, audit_router, keys_router, health_router]:
        app.include_router(router)
    app.openapi_url = "/openapi.json"
    app.setup()  # FastAPI's documentation routes, now that they come last
    check_routes(app.routes, spec.name)
    app.openapi = with_security(app)  # type: ignore[method-assign]
    return app


async def _supervised(worker: Worker, runtime: Runtime) -> None:
    """Keep a worker loop alive: log and restart it after an unexpected error."""
    while True:
        try:
            await worker(runtime)
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("worker crashed; restarting", extra={"worker": worker.__name__})
            await asyncio.sleep(1)


async def _broker_parts(runtime: Runtime) -> None:
    """Provision topics, start the producer, relay and consumer; retry until the broker
    answers. Long on purpose: one retry loop around the broker-facing start-up, in the
    order it must happen, and the matching shutdown; split, the order would be hidden."""
    spec, settings = runtime.spec, runtime.settings
    topics = [*spec.produces, *(s.topic for s in spec.subscriptions), Topics.watermarks]
    if spec.subscriptions:
        topics.append(Topics.dead_letter(spec.name))
    delay = 1.0
    while True:
        producer = make_producer(settings, spec.name)
        try:
            await ensure_topics(settings, sorted(set(topics)))
            await producer.start()
            break
        except asyncio.CancelledError:
            await producer.stop()
            raise
        except Exception as exc:  # noqa: BLE001 - broker not there yet
            runtime.status.failed(exc)
            log.warning("broker not reachable; retrying", extra={"error": runtime.status.last_error})
            await producer.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    runtime.status.ok()
    relay = OutboxRelay(
        runtime.db,
        runtime.tables,
        producer,
        runtime.status,
        poll_seconds=settings.outbox_poll_seconds,
        batch_size=settings.outbox_batch_size,
        coalesce_seconds=settings.outbox_coalesce_seconds,
        retention=timedelta(hours=settings.outbox_retention_hours),
        send_timeout=settings.kafka_request_timeout_ms / 1000 + 5,
        producer_name=spec.name,
        watermark_seconds=settings.stream_watermark_seconds,
    )
    runtime.relay = relay
    parts = [asyncio.create_task(relay.run(), name="relay")]
    consumer = None
    if spec.subscriptions:
        consumer = make_consumer(settings, spec.name, [*(s.topic for s in spec.subscriptions), Topics.watermarks])
        runtime.consumer = ConsumerRunner(
            spec.name,
            runtime.db,
            runtime.tables,
            consumer,
            producer,
            spec.subscriptions,
            runtime.status,
            context=runtime,
            max_attempts=settings.consumer_max_attempts,
            retry_base=settings.consumer_retry_base_seconds,
            gap_grace_seconds=settings.stream_gap_grace_seconds,
            check_seconds=settings.stream_check_seconds,
            fetch_pace=FetchPace(settings.kafka_fetch_busy_wait_ms, settings.kafka_fetch_max_wait_ms),
        )
        parts.append(asyncio.create_task(_run_consumer(runtime.consumer, consumer), name="consumer"))
    try:
        await asyncio.gather(*parts)
    finally:
        for part in parts:
            part.cancel()
        await asyncio.gather(*parts, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(relay.publish_batch(), timeout=2)  # last flush
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), timeout=5)


async def _run_consumer(runner: ConsumerRunner, consumer: AIOKafkaConsumer) -> None:
    delay = 1.0
    while True:
        try:
            await consumer.start()
            break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            runner.status.failed(exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    try:
        while True:
            try:
                await runner.run()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - never let the consumer die silently
                log.exception("consumer loop failed; resuming from the last committed offset")
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):  # records fetched but not applied are read again
                    await consumer.seek_to_committed()
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), timeout=5)
