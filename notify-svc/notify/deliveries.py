"""Deliveries: one per (event, recipient, channel), tried until delivered or dead.

They are written by ``fanout`` in the consumer's transaction. The worker claims
due deliveries with a lease (``FOR UPDATE SKIP LOCKED`` on Postgres, so replicas
never send one twice at once), sends outside any transaction, then records the
attempt. Digest deliveries of one recipient and channel that fall due together
are claimed and sent as one message; each keeps its own attempt record.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notify import tables as t
from services import wakeup
from services.database import utcnow
from services.errors import DomainError
from shared.notify import AttemptOut, DeliveryOut

PENDING, DELIVERED, DEAD, SUPPRESSED, SKIPPED = "pending", "delivered", "dead", "suppressed", "skipped"


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    attempt_no: int
    budget_from: int
    event_type: str
    event_id: uuid.UUID
    case_id: uuid.UUID | None
    channel: str
    recipient: str
    mode: str
    body: str
    facts: dict[str, Any]
    target: str | None
    secret_enc: str | None
    locale: str
    traceparent: str | None = None


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest pending delivery falls due (an index lookup)."""
    d = t.deliveries.c
    due: datetime | None = await session.scalar(select(func.min(d.next_attempt_at)).where(d.status == PENDING))
    return due


async def claim_due(session: AsyncSession, now: datetime, batch: int, lease: timedelta) -> list[Claimed]:
    d = t.deliveries.c
    rows = (
        await session.execute(
            select(
                d.id,
                d.attempts,
                d.budget_from,
                d.event_type,
                d.event_id,
                d.case_id,
                d.channel,
                d.recipient,
                d.mode,
                d.body,
                d.facts,
                t.subscriptions.c.target,
                t.subscriptions.c.secret_enc,
                t.subscriptions.c.locale,
                d.traceparent,
            )
            .join(t.subscriptions, t.subscriptions.c.id == d.subscription_id)
            .where(d.status == PENDING, d.next_attempt_at <= now)
            .order_by(d.next_attempt_at)
            .limit(batch)
            .with_for_update(skip_locked=True, of=t.deliveries)
        )
    ).all()
    if rows:
        await session.execute(
            t.deliveries.update().where(d.id.in_([r.id for r in rows])).values(next_attempt_at=now + lease)
        )
    return [
        Claimed(
            r.id,
            r.attempts + 1,
            r.budget_from,
            r.event_type,
            r.event_id,
            r.case_id,
            r.channel,
            r.recipient,
            r.mode,
            r.body,
            r.facts or {},
            r.target,
            r.secret_enc,
            r.locale,
            r.traceparent,
        )
        for r in rows
    ]


def groups(claimed: list[Claimed]) -> list[list[Claimed]]:
    """Immediate deliveries alone; digest deliveries together per recipient, channel and locale."""
    out: list[list[Claimed]] = []
    digests: dict[tuple[str, str, str], list[Claimed]] = {}
    for c in claimed:
        if c.mode == "digest":
            digests.setdefault((c.recipient, c.channel, c.locale), []).append(c)
        else:
            out.append([c])
    return out + list(digests.values())


async def defer(session: AsyncSession, ids: list[uuid.UUID], until: datetime) -> None:
    """Put deliveries back without using an attempt (their target's circuit is open)."""
    await session.execute(t.deliveries.update().where(t.deliveries.c.id.in_(ids)).values(next_attempt_at=until))


async def settle(session: AsyncSession, ids: list[uuid.UUID], status: str, error: str) -> None:
    """Close deliveries that will never be sent (opted out, channel not configured), with the reason."""
    now = utcnow()
    await session.execute(
        t.deliveries.update()
        .where(t.deliveries.c.id.in_(ids))
        .values(status=status, next_attempt_at=None, updated_at=now)
    )
    for delivery_id in ids:
        await session.execute(
            t.attempts.insert().values(
                delivery_id=delivery_id, attempt_no=0, at=now, status_code=None, error=error[:500], latency_ms=0
            )
        )


def backoff(attempt_no: int, base: float, cap: float) -> timedelta:
    """Exponential with full jitter on the upper half, so retries of many targets spread out."""
    ceiling = min(base * 2 ** (attempt_no - 1), cap)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


async def record_attempt(
    session: AsyncSession,
    claimed: Claimed,
    status_code: int | None,
    error: str | None,
    latency_ms: int,
    *,
    max_attempts: int,
    retry_base: float,
    retry_cap: float,
) -> str:
    now = utcnow()
    ok = status_code is not None and 200 <= status_code < 300
    if ok:
        status, next_at = DELIVERED, None
    elif claimed.attempt_no - claimed.budget_from >= max_attempts:
        status, next_at = DEAD, None
    else:
        status, next_at = PENDING, now + backoff(claimed.attempt_no, retry_base, retry_cap)
    await session.execute(
        t.attempts.insert().values(
            delivery_id=claimed.id,
            attempt_no=claimed.attempt_no,
            at=now,
            status_code=status_code,
            error=error[:500] if error else None,
            latency_ms=latency_ms,
        )
    )
    await session.execute(
        t.deliveries.update()
        .where(t.deliveries.c.id == claimed.id)
        .values(status=status, attempts=claimed.attempt_no, next_attempt_at=next_at, updated_at=now)
    )
    return status


@dataclass(frozen=True)
class DeliveryFilters:
    id: uuid.UUID | None = None
    status: str | None = None
    event_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    channel: str | None = None
    recipient: str | None = None
    event_type: str | None = None


async def list_deliveries(session: AsyncSession, filters: DeliveryFilters, limit: int) -> list[DeliveryOut]:
    query = select(t.deliveries).order_by(t.deliveries.c.created_at.desc()).limit(limit)
    for name in ("id", "status", "event_id", "case_id", "subscription_id", "channel", "recipient", "event_type"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(t.deliveries.c[name] == value)
    rows = (await session.execute(query)).all()
    by_delivery: dict[uuid.UUID, list[Row[Any]]] = {r.id: [] for r in rows}
    if rows:
        attempt_rows = (
            await session.execute(
                select(t.attempts).where(t.attempts.c.delivery_id.in_(list(by_delivery))).order_by(t.attempts.c.id)
            )
        ).all()
        for a in attempt_rows:
            by_delivery[a.delivery_id].append(a)
    return [
        DeliveryOut.model_validate(
            {
                **r._mapping,
                "attempts": [AttemptOut.model_validate(a, from_attributes=True) for a in by_delivery[r.id]],
            }
        )
        for r in rows
    ]


async def resend(session: AsyncSession, delivery_id: uuid.UUID) -> None:
    """A dead (or skipped) delivery gets a fresh set of attempts, the first one now."""
    row = (await session.execute(select(t.deliveries).where(t.deliveries.c.id == delivery_id))).first()
    if row is None:
        raise DomainError(404, "no such delivery")
    if row.status not in (DEAD, SKIPPED):
        raise DomainError(409, f"only dead or skipped deliveries are resent; this one is {row.status}")
    await session.execute(
        t.deliveries.update()
        .where(t.deliveries.c.id == delivery_id)
        .values(status=PENDING, budget_from=row.attempts, next_attempt_at=utcnow(), updated_at=utcnow())
    )
    wakeup.mark(session, "deliveries")
