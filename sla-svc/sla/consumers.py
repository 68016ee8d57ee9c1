"""sla-svc's event handlers: each runs in the consumer's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.consumer import Subscription
from services.runtime import Runtime
from shared.events import CaseCreated, CaseTransferred, Envelope, Topics
from sla import clocks


async def on_case_created(session: AsyncSession, envelope: Envelope, payload: CaseCreated, runtime: Runtime) -> None:
    await clocks.start_closing_clock(session, runtime.extras["calendar"], envelope.case_id, payload)


async def on_case_transferred(
    session: AsyncSession, envelope: Envelope, payload: CaseTransferred, runtime: Runtime
) -> None:
    await clocks.record_parties(session, envelope.case_id, payload)


SUBSCRIPTIONS = [
    Subscription(Topics.case_created, on_case_created),
    Subscription(Topics.case_transferred, on_case_transferred),
]
