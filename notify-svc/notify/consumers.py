"""notify-svc's event handlers: each runs in the consumer's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from notify import deliveries
from services.consumer import Subscription
from services.runtime import Runtime
from shared.events import CaseOverdue, Envelope, Topics


async def on_case_overdue(session: AsyncSession, envelope: Envelope, payload: CaseOverdue, runtime: Runtime) -> None:
    await deliveries.fan_out(session, envelope, payload.branch_code, payload.level)


SUBSCRIPTIONS = [Subscription(Topics.case_overdue, on_case_overdue)]
