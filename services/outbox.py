"""Transactional outbox, the producing side: the one way to publish an event.

An event is a row written in the same transaction as the state change it announces
(``publish``, ``publish_many``); ``services.relay`` publishes the rows in order once
they are committed, and marks them. Delivery is at least once; consumers dedup by
``event_id``. See docs/decisions/0002-events-and-delivery.md and 0009.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import deferred, tracing, wakeup
from services.database import utcnow
from services.logging import correlation_id
from services.tables import RuntimeTables
from shared.events import Envelope, Payload, encode, new_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """An event to publish: what happened to which case, when. ``correlation_id``
    defaults to the request's or the consumed event's (``services.logging``)."""

    payload: Payload
    case_id: uuid.UUID
    at: datetime
    correlation_id: str | None = None


async def publish(
    session: AsyncSession, tables: RuntimeTables, payload: Payload, case_id: uuid.UUID, at: datetime
) -> Envelope:
    """The one way to publish: stage the event in the caller's transaction, so that it
    leaves (through the relay) only if that transaction commits. Its envelope names the
    service (``tables.producer``) and carries the correlation id of the work at hand."""
    return (await publish_many(session, tables, [Outgoing(payload, case_id, at)]))[0]


async def publish_many(session: AsyncSession, tables: RuntimeTables, outgoing: Sequence[Outgoing]) -> list[Envelope]:
    """``publish`` for many events in one statement (a timer round may fire thousands)."""
    current = correlation_id.get()
    envelopes = [
        new_event(
            o.payload,
            case_id=o.case_id,
            producer=tables.producer,
            correlation_id=o.correlation_id or current,
            occurred_at=o.at,
        )
        for o in outgoing
    ]
    _stage(session, tables, envelopes)
    return envelopes


def _stage(session: AsyncSession, tables: RuntimeTables, envelopes: list[Envelope]) -> None:
    """The outbox rows of built envelopes, written with the commit, waking the relay after it."""
    if not envelopes:
        return
    wakeup.mark(session, "outbox")
    now = utcnow()
    rows = [
        {
            "event_id": str(e.event_id),
            "topic": e.type,
            "key": str(e.case_id),
            "value": encode(e).decode(),
            "created_at": now,
            "traceparent": tracing.current_for(e.case_id),
        }
        for e in envelopes
    ]
    deferred.defer(session, tables.outbox, rows)  # written at commit (services.deferred)


@dataclass(frozen=True)
class Backlog:
    """Events committed but not yet on the bus, and how long the oldest has waited."""

    events: int
    oldest_age_seconds: float


async def backlog(session: AsyncSession, tables: RuntimeTables) -> Backlog:
    """The outbox's backlog (``/readyz``, ``/metrics``, ``python -m services.operate health``):
    one index range over the unpublished rows."""
    outbox = tables.outbox
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
        )
    ).one()
    return Backlog(int(count or 0), (utcnow() - oldest).total_seconds() if oldest is not None else 0.0)
