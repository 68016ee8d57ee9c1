"""sla-svc's event handlers: each runs in the consumer's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.consumer import Subscription
from services.runtime import Runtime
from shared.events import CaseCreated, CaseTransferred, CaseUpdated, Envelope, Topics
from sla import arrivals, engine, transfers
from sla.state import state_of


async def on_case_created(session: AsyncSession, envelope: Envelope, payload: CaseCreated, runtime: Runtime) -> None:
    await engine.on_created(session, await state_of(runtime).context_in(session), envelope.case_id, payload)


async def on_cases_created(session: AsyncSession, items: list[tuple[Envelope, CaseCreated]], runtime: Runtime) -> None:
    await arrivals.on_created_batch(
        session, await state_of(runtime).context_in(session), [(e.case_id, p) for e, p in items]
    )


async def on_case_transferred(
    session: AsyncSession, envelope: Envelope, payload: CaseTransferred, runtime: Runtime
) -> None:
    await on_cases_transferred(session, [(envelope, payload)], runtime)


async def on_cases_transferred(
    session: AsyncSession, items: list[tuple[Envelope, CaseTransferred]], runtime: Runtime
) -> None:
    await transfers.on_transferred_batch(
        session, await state_of(runtime).context_in(session), [(e.case_id, p, e.occurred_at) for e, p in items]
    )


async def on_case_updated(session: AsyncSession, envelope: Envelope, payload: CaseUpdated, runtime: Runtime) -> None:
    await engine.on_updated(
        session, await state_of(runtime).context_in(session), envelope.case_id, payload, envelope.occurred_at
    )


SUBSCRIPTIONS = [
    Subscription(Topics.case_created, on_case_created, batch=on_cases_created),
    Subscription(Topics.case_transferred, on_case_transferred, batch=on_cases_transferred),
    Subscription(Topics.case_updated, on_case_updated),
]
