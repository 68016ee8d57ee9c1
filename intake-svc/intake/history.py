"""A case's history: every action taken in intake and every event about it from the
other services, in the order they happened (``GET /v1/cases/{id}/history``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intake import tables as t
from services import deferred, native
from shared.events import Envelope
from shared.intake import HistoryEntry

INSERT_ACTION = t.case_actions.insert()


def record(
    session: AsyncSession,
    case_id: uuid.UUID,
    action: str,
    actor: str | None,
    from_status: str | None,
    to_status: str | None,
    details: dict[str, Any],
    event: Envelope | None,
    at: datetime,
    source: str = "intake-svc",
) -> None:
    row = {
        "case_id": case_id,
        "action": action,
        "actor": actor,
        "source": source,
        "from_status": from_status,
        "to_status": to_status,
        "details": details,
        "event_id": str(event.event_id) if event else None,
        "at": at,
    }
    deferred.defer(session, t.case_actions, [row])  # written with the commit (services.deferred)


async def record_events(session: AsyncSession, events: Sequence[tuple[Envelope, str, dict[str, Any]]]) -> None:
    """Other services' events about cases (a transfer, an overdue clock), in one statement:
    each ``(envelope, action, details)`` is recorded as its producer's action."""
    if not events:
        return
    await native.execute_many(
        session,
        INSERT_ACTION,
        [
            {
                "case_id": envelope.case_id,
                "action": action,
                "actor": envelope.producer,
                "source": envelope.producer,
                "from_status": None,
                "to_status": None,
                "details": details,
                "event_id": str(envelope.event_id),
                "at": envelope.occurred_at,
            }
            for envelope, action, details in events
        ],
    )


async def entries(session: AsyncSession, case_id: uuid.UUID) -> list[HistoryEntry]:
    rows = (
        await session.execute(
            select(t.case_actions)
            .where(t.case_actions.c.case_id == case_id)
            .order_by(t.case_actions.c.at, t.case_actions.c.id)
        )
    ).all()
    return [HistoryEntry.model_validate(r, from_attributes=True) for r in rows]
