"""routing-svc's event handlers: each runs in the consumer's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from routing import assignment
from services.consumer import Subscription
from services.runtime import Runtime
from shared.events import CaseCreated, Envelope, Topics


async def on_case_created(session: AsyncSession, envelope: Envelope, payload: CaseCreated, runtime: Runtime) -> None:
    default_unit: str = runtime.settings.default_unit  # type: ignore[attr-defined]
    org = await runtime.extras["org"].get(session)
    await assignment.assign_new_case(session, envelope.case_id, payload, org, default_unit)


SUBSCRIPTIONS = [Subscription(Topics.case_created, on_case_created)]
