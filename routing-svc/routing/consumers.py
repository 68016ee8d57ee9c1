"""routing-svc's event handlers: each runs in the consumer's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from routing import arrivals, assignment, lifecycle
from routing.state import state_of
from services.consumer import Subscription
from services.runtime import Runtime
from shared.events import CaseCreated, CaseUpdated, Envelope, Topics


async def on_case_created(session: AsyncSession, envelope: Envelope, payload: CaseCreated, runtime: Runtime) -> None:
    state = state_of(runtime)
    org = await state.org.get(session)
    await assignment.assign_new_case(session, envelope.case_id, payload, org, state.settings.default_unit)


async def on_cases_created(session: AsyncSession, items: list[tuple[Envelope, CaseCreated]], runtime: Runtime) -> None:
    state = state_of(runtime)
    org = await state.org.get(session)
    await arrivals.assign_new_cases(session, items, org, state.settings.default_unit)


async def on_case_updated(session: AsyncSession, envelope: Envelope, payload: CaseUpdated, runtime: Runtime) -> None:
    state = state_of(runtime)
    org = await state.org.get(session)
    freed = await lifecycle.on_case_updated(session, envelope.case_id, payload, org, state.settings.default_unit)
    if freed:
        await assignment.drain_queue(session, freed, org)


SUBSCRIPTIONS = [
    Subscription(Topics.case_created, on_case_created, batch=on_cases_created),
    Subscription(Topics.case_updated, on_case_updated),
]
