"""``/healthz`` (the process is up), ``/readyz`` and ``/asyncapi.json`` (CONTRACT.md).

Ready means the database answers. The broker's state, the outbox backlog and the
consumer lag are reported in the body but do not make the service unready: while
the broker is away the outbox holds the events.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from services.auth import Allow
from services.deps import RuntimeDep
from services.errors import DomainError
from services.metrics import CONTENT_TYPE, refresh
from services.outbox import backlog
from services.runtime import Runtime
from shared import asyncapi
from shared.auth import PUBLIC
from shared.ops import OpsAlert

router = APIRouter(tags=["health"], dependencies=[Depends(Allow(PUBLIC))])


@router.get("/healthz")
async def healthz(runtime: RuntimeDep) -> dict[str, str]:
    return {"status": "ok", "service": runtime.name}


@router.get("/asyncapi.json", include_in_schema=False)
async def asyncapi_document(runtime: RuntimeDep) -> dict[str, Any]:
    """The events this service publishes, as AsyncAPI 3 (CONTRACT.md; ``shared.asyncapi``)."""
    if not runtime.spec.produces:
        raise DomainError(404, f"{runtime.name} publishes no events")
    return asyncapi.document(runtime.name)


@router.get("/metrics", include_in_schema=False)
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text format (``services.metrics``); no personal data, no case ids."""
    await refresh(runtime)
    return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE)


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    body: dict[str, object] = {"service": runtime.name, "broker": runtime.status.as_dict()}
    try:
        await asyncio.wait_for(runtime.db.ping(), timeout=3)
        body["database"] = {"up": True}
        async with runtime.db.session() as session:
            waiting = await backlog(session, runtime.tables)
        body["outbox_backlog"] = waiting.events
        body["outbox_oldest_age_seconds"] = round(waiting.oldest_age_seconds, 3)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        body["database"] = {"up": False, "error": type(exc).__name__}
        body["status"] = "unready"
        return JSONResponse(body, status_code=503)
    if runtime.key_rotation is not None:
        body["key_rotation"] = runtime.key_rotation
    if runtime.consumer is not None:
        body["consumer"] = {
            "group": runtime.consumer.group,
            "assigned_partitions": len(runtime.consumer.consumer.assignment()),
            "lag": runtime.status.consumer_lag,
            "processed": runtime.consumer.processed,
            "dead_lettered": runtime.consumer.dead_lettered,
            "duplicates": runtime.consumer.duplicates,
            # Events a producer says it published that have not arrived and are not on
            # their way (services.streams): lost, and said so.
            "streams_watched": runtime.consumer.watch.watched,
            "event_gaps": [g.as_dict() for g in runtime.consumer.watch.gaps],
        }
    alerts = ops_alerts(runtime)
    body["ops_alerts"] = [a.model_dump() for a in alerts]
    lost = runtime.consumer is not None and bool(runtime.consumer.watch.gaps)
    body["status"] = "ready" if runtime.status.up and not lost else "degraded"
    return JSONResponse(body, status_code=200)


def ops_alerts(runtime: Runtime) -> list[OpsAlert]:
    """Everything this service has to tell ops now: lost events, and its own concerns."""
    alerts: list[OpsAlert] = []
    if runtime.consumer is not None:
        for g in runtime.consumer.watch.gaps:
            alerts.append(
                OpsAlert(
                    alert="ops.event_gap",
                    key=f"{runtime.name}/{g.producer}/{g.topic}/{g.through}",
                    summary=f"{runtime.name} is missing {g.missing} {g.topic} events published by {g.producer}",
                    details={"service": runtime.name, **g.as_dict()},
                )
            )
    if runtime.spec.ops_alerts is not None:
        alerts += runtime.spec.ops_alerts(runtime)
    return alerts
