"""Deliveries: one per (subscription, event), tried until delivered or dead.

``fan_out`` runs in the consumer's transaction, so an event is turned into its
deliveries exactly once. The worker claims due deliveries with a lease (``FOR
UPDATE SKIP LOCKED`` on Postgres, so replicas never send one twice at once),
sends outside any transaction, then records the attempt.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from notify import subscriptions
from notify import tables as t
from services.database import insert_ignoring_conflicts, utcnow
from shared.api import AttemptOut, DeliveryOut
from shared.events import Envelope

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


async def fan_out(session: AsyncSession, envelope: Envelope, branch_code: str | None, level: str | None) -> int:
    subs = await subscriptions.matching(session, envelope.type, branch_code, level)
    now = utcnow()
    body = envelope.model_dump_json()
    for sub in subs:
        await session.execute(
            insert_ignoring_conflicts(session, t.deliveries, ["subscription_id", "event_id"]).values(
                id=uuid.uuid4(),
                subscription_id=sub.id,
                event_id=envelope.event_id,
                event_type=envelope.type,
                case_id=envelope.case_id,
                body=body,
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    return len(subs)


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    attempt_no: int
    target: str
    secret_enc: str
    body: str
    event_id: uuid.UUID


async def claim_due(session: AsyncSession, now: datetime, batch: int, lease: timedelta) -> list[Claimed]:
    rows = (
        await session.execute(
            select(
                t.deliveries.c.id,
                t.deliveries.c.attempts,
                t.deliveries.c.body,
                t.deliveries.c.event_id,
                t.subscriptions.c.target,
                t.subscriptions.c.secret_enc,
            )
            .join(t.subscriptions, t.subscriptions.c.id == t.deliveries.c.subscription_id)
            .where(t.deliveries.c.status == PENDING, t.deliveries.c.next_attempt_at <= now)
            .order_by(t.deliveries.c.next_attempt_at)
            .limit(batch)
            .with_for_update(skip_locked=True, of=t.deliveries)
        )
    ).all()
    if rows:
        await session.execute(
            t.deliveries.update().where(t.deliveries.c.id.in_([r.id for r in rows])).values(next_attempt_at=now + lease)
        )
    return [Claimed(r.id, r.attempts + 1, r.target, r.secret_enc, r.body, r.event_id) for r in rows]


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
    elif claimed.attempt_no >= max_attempts:
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
    status: str | None = None
    event_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None


async def list_deliveries(session: AsyncSession, filters: DeliveryFilters, limit: int) -> list[DeliveryOut]:
    query = select(t.deliveries).order_by(t.deliveries.c.created_at.desc()).limit(limit)
    for name in ("status", "event_id", "case_id", "subscription_id"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(t.deliveries.c[name] == value)
    rows = (await session.execute(query)).all()
    by_delivery: dict[uuid.UUID, list[Row]] = {r.id: [] for r in rows}  # type: ignore[type-arg]
    if rows:
        attempt_rows = (
            await session.execute(
                select(t.attempts).where(t.attempts.c.delivery_id.in_(list(by_delivery))).order_by(t.attempts.c.id)
            )
        ).all()
        for a in attempt_rows:
            by_delivery[a.delivery_id].append(a)
    return [
        DeliveryOut(
            id=r.id,
            subscription_id=r.subscription_id,
            event_id=r.event_id,
            event_type=r.event_type,
            case_id=r.case_id,
            status=r.status,
            next_attempt_at=r.next_attempt_at,
            created_at=r.created_at,
            attempts=[
                AttemptOut(
                    attempt_no=a.attempt_no, at=a.at, status_code=a.status_code, error=a.error, latency_ms=a.latency_ms
                )
                for a in by_delivery[r.id]
            ],
        )
        for r in rows
    ]
