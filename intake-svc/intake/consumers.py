"""intake-svc's event handlers: other services' events about a case join its history."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from intake import history
from intake import tables as t
from services.consumer import Subscription
from services.runtime import Runtime
from shared.events import CaseOverdue, CaseTransferred, Envelope, Topics


async def on_case_transferred(
    session: AsyncSession, envelope: Envelope, payload: CaseTransferred, runtime: Runtime
) -> None:
    details = payload.model_dump(
        mode="json", include={"from_unit", "to_unit", "to_assignee", "owner", "reason", "rule_id"}
    )
    await history.record_event(session, envelope, str(payload.transfer_kind), details)
    # Who holds the case decides who may see it (an assignee sees the cases assigned to them).
    await session.execute(
        t.cases.update()
        .where(t.cases.c.id == envelope.case_id)
        .values(assignee=payload.to_assignee, owner=payload.owner or t.cases.c.owner)
    )


async def on_case_overdue(session: AsyncSession, envelope: Envelope, payload: CaseOverdue, runtime: Runtime) -> None:
    details = payload.model_dump(
        mode="json", include={"clock", "policy", "due_at", "late_by_seconds", "owner", "assignee"}
    )
    await history.record_event(session, envelope, f"overdue:{payload.level}", details)


SUBSCRIPTIONS = [
    Subscription(Topics.case_transferred, on_case_transferred),
    Subscription(Topics.case_overdue, on_case_overdue),
]
