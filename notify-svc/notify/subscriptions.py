"""Subscriptions: who wants which events, where. Plain functions; the caller commits."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from notify import tables as t
from services.crypto import FieldCipher
from services.database import utcnow
from shared.api import SubscriptionCreate, SubscriptionOut


async def create(session: AsyncSession, body: SubscriptionCreate, cipher: FieldCipher) -> SubscriptionOut:
    secret = body.secret or secrets.token_urlsafe(32)
    sub_id = uuid.uuid4()
    now = utcnow()
    await session.execute(
        t.subscriptions.insert().values(
            id=sub_id,
            channel=body.channel,
            target=str(body.target),
            events=list(body.events),
            branch_code=body.branch_code,
            levels=body.levels,
            secret_enc=cipher.encrypt(secret),
            active=True,
            created_at=now,
        )
    )
    row = (await session.execute(select(t.subscriptions).where(t.subscriptions.c.id == sub_id))).one()
    # The secret is shown once, and only when the service made it up.
    return to_out(row, secret=None if body.secret else secret)


async def list_all(session: AsyncSession) -> list[SubscriptionOut]:
    rows = (await session.execute(select(t.subscriptions).order_by(t.subscriptions.c.created_at))).all()
    return [to_out(r) for r in rows]


async def matching(session: AsyncSession, event_type: str, branch_code: str | None, level: str | None) -> list[Row]:  # type: ignore[type-arg]
    rows = (await session.execute(select(t.subscriptions).where(t.subscriptions.c.active.is_(True)))).all()
    return [
        r
        for r in rows
        if event_type in r.events
        and (r.branch_code is None or r.branch_code == branch_code)
        and (not r.levels or level in r.levels)
    ]


def to_out(row: Row, secret: str | None = None) -> SubscriptionOut:  # type: ignore[type-arg]
    return SubscriptionOut(
        id=row.id,
        channel=row.channel,
        target=row.target,
        events=row.events,
        branch_code=row.branch_code,
        levels=row.levels,
        active=row.active,
        created_at=row.created_at,
        secret=secret,
    )
