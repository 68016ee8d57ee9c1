"""Ops alerts about the platform itself (``shared.ops``): events lost on the bus
(issue 12), a year's holiday notice not loaded (issue 13).

Every service reports in its ``/readyz`` what ops must know (``ops_alerts``): a
consumer the events a producer says it published that have not arrived and are
not on their way (``services.streams``), sla-svc a coming year counted on a
provisional calendar. This worker reads those reports from intake, routing and
sla over HTTP, and notify's own from memory, every ``gap_watch_seconds``, and
turns each into a notification (``ops.event_gap``, ``ops.calendar_notice``) for
the subscriptions that ask for it. It reads ``/readyz`` rather than an event
because one of the things reported is that events are going missing: the alert
must not depend on the bus.

One alert per key: the alert's id is derived from its key (for a gap: service,
producer, topic and watermark), and deliveries are unique by (event, recipient,
channel), so an alert that stays true is told once, also across restarts of
notify. Ops alerts go to fixed targets (a webhook, a group robot, a mailbox), not
to people found from a case: there is no case. ``OPS_ALERT_EMAIL`` adds a
built-in subscription for them.
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
from notify.state import state_of
from services import wakeup
from services.database import insert_ignoring_conflicts, utcnow
from services.health import ops_alerts
from services.runtime import Runtime
from shared.ops import OpsAlert

log = logging.getLogger(__name__)

_NS = uuid.UUID("0b6f7e0a-3c55-4d2e-8f0e-6a1f2b9d4c11")


async def gap_watch(runtime: Runtime) -> None:
    s = state_of(runtime).settings
    while True:
        await asyncio.sleep(s.gap_watch_seconds)
        try:
            alerts = await collect(runtime)
            if alerts:
                async with runtime.db.session() as session:
                    raised = await raise_alerts(session, alerts)
                    await session.commit()
                if raised:
                    log.warning("ops alerted", extra={"deliveries": raised})
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - database away: next round
            log.warning("ops alert round failed", exc_info=True)


async def collect(runtime: Runtime) -> list[tuple[str, OpsAlert]]:
    """(the ``/readyz`` it came from, the alert) for every alert any service reports now."""
    state = state_of(runtime)
    s, peers = state.settings, state.peers
    found = [(f"http://{s.host}:{s.port}/readyz", a) for a in ops_alerts(runtime)]
    for base in (s.intake_url, s.routing_url, s.sla_url):
        try:
            reported = (await peers.client.get(f"{base}/readyz")).json().get("ops_alerts") or []
            found += [(f"{base}/readyz", OpsAlert.model_validate(a)) for a in reported]
        except (httpx.HTTPError, ValueError):
            continue  # a service that does not answer reports nothing; its own /readyz is watched by ops
    return found


async def raise_alerts(session: Any, alerts: list[tuple[str, OpsAlert]]) -> int:
    """Deliveries for every subscription asking for the alert; returns how many were new."""
    subs = [
        r
        for r in (await session.execute(select(t.subscriptions).where(t.subscriptions.c.active.is_(True)))).all()
        if r.target and any(e.startswith("ops.") for e in r.events)
    ]
    now = utcnow()
    made = 0
    for link, alert in alerts:
        event_id = uuid.uuid5(_NS, alert.key)
        payload = {"summary": alert.summary, "key": alert.key, **alert.details}
        body = json.dumps(
            {"event_id": str(event_id), "type": alert.alert, "occurred_at": now.isoformat(), "payload": payload},
            ensure_ascii=False,
        )
        for sub in subs:
            if alert.alert not in sub.events:
                continue
            result = await session.execute(
                insert_ignoring_conflicts(session, t.deliveries, ["event_id", "recipient", "channel"]).values(
                    id=uuid.uuid4(),
                    subscription_id=sub.id,
                    event_id=event_id,
                    event_type=alert.alert,
                    case_id=None,
                    channel=sub.channel,
                    recipient=f"subscription:{sub.id}",
                    mode="immediate",
                    body=body,
                    facts={"notification": alert.alert, "link": link},
                    status="pending",
                    attempts=0,
                    budget_from=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            made += int(result.rowcount or 0)
    if made:
        wakeup.mark(session, "deliveries")
    return made
