"""Ops alerts about the platform itself: events lost on the bus (issue 12).

Every consuming service reports in its ``/readyz`` the events a producer says it
published that have not arrived and are not on their way (``services.streams``).
This worker reads those reports from intake, routing and sla over HTTP, and
notify's own from memory, every ``gap_watch_seconds``, and turns each gap into an
``ops.event_gap`` notification for the subscriptions that ask for it. It reads
``/readyz`` rather than an event because the thing being reported is that events
are going missing: the alert must not depend on the bus.

One alert per gap and stuck point: the alert's id is derived from (service,
producer, topic, watermark), and deliveries are unique by (event, recipient,
channel), so a gap that stays open alerts once, also across restarts of notify,
and alerts again only if it moves and sticks at a new point. Ops alerts go to
fixed targets (a webhook, a group robot, a mailbox), not to people found from a
case: there is no case. ``OPS_ALERT_EMAIL`` adds a built-in subscription for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from notify import tables as t
from notify.peers import Peers
from notify.settings import NotifySettings
from services.database import insert_ignoring_conflicts, utcnow
from services.runtime import Runtime

log = logging.getLogger(__name__)

EVENT_GAP = "ops.event_gap"
_NS = uuid.UUID("0b6f7e0a-3c55-4d2e-8f0e-6a1f2b9d4c11")


async def gap_watch(runtime: Runtime) -> None:
    s: NotifySettings = runtime.settings  # type: ignore[assignment]
    while True:
        await asyncio.sleep(s.gap_watch_seconds)
        try:
            gaps = await collect(runtime)
            if gaps:
                async with runtime.db.session() as session:
                    raised = await raise_alerts(session, gaps)
                    await session.commit()
                if raised:
                    log.warning("ops alerted: events lost", extra={"deliveries": raised})
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - database away: next round
            log.warning("gap watch round failed", exc_info=True)


async def collect(runtime: Runtime) -> list[dict[str, Any]]:
    """Each open gap as {service, readyz, producer, topic, through, announced, missing, ...}."""
    s: NotifySettings = runtime.settings  # type: ignore[assignment]
    gaps: list[dict[str, Any]] = []
    if runtime.consumer is not None:
        own = f"http://{s.host}:{s.port}/readyz"
        gaps += [{"service": runtime.name, "readyz": own, **g.as_dict()} for g in runtime.consumer.watch.gaps]
    peers: Peers = runtime.extras["peers"]
    for service, base in (("intake-svc", s.intake_url), ("routing-svc", s.routing_url), ("sla-svc", s.sla_url)):
        try:
            response = await peers.client.get(f"{base}/readyz")
            found = (response.json().get("consumer") or {}).get("event_gaps") or []
        except (httpx.HTTPError, ValueError):
            continue  # a service that does not answer is not reporting; its own /readyz is watched by ops
        gaps += [{"service": service, "readyz": f"{base}/readyz", **g} for g in found]
    return gaps


async def raise_alerts(session: Any, gaps: list[dict[str, Any]]) -> int:
    """Deliveries for every subscription asking for ``ops.event_gap``; returns how many were new."""
    subs = [
        r
        for r in (await session.execute(select(t.subscriptions).where(t.subscriptions.c.active.is_(True)))).all()
        if EVENT_GAP in r.events and r.target
    ]
    now = utcnow()
    made = 0
    for gap in gaps:
        event_id = uuid.uuid5(_NS, f"{gap['service']}/{gap['producer']}/{gap['topic']}/{gap['through']}")
        body = json.dumps(
            {"event_id": str(event_id), "type": EVENT_GAP, "occurred_at": now.isoformat(), "payload": gap},
            ensure_ascii=False,
        )
        for sub in subs:
            result = await session.execute(
                insert_ignoring_conflicts(session, t.deliveries, ["event_id", "recipient", "channel"]).values(
                    id=uuid.uuid4(),
                    subscription_id=sub.id,
                    event_id=event_id,
                    event_type=EVENT_GAP,
                    case_id=None,
                    channel=sub.channel,
                    recipient=f"subscription:{sub.id}",
                    mode="immediate",
                    body=body,
                    facts={"notification": EVENT_GAP, "link": gap["readyz"]},
                    status="pending",
                    attempts=0,
                    budget_from=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            made += int(result.rowcount or 0)
    return made
