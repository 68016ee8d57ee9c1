"""What sla-svc's start-up builds, typed: routes reach it through ``StateDep``,
consumers and workers through ``state_of(runtime)`` (no string-keyed bag)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from sqlalchemy.ext.asyncio import AsyncSession

from services.deps import state_dependency
from services.runtime import Runtime
from sla import calendars, policies
from sla.clocks import Context
from sla.settings import SlaSettings


@dataclass
class SlaState:
    settings: SlaSettings
    #: Calendars and policies in memory: replaced whole (``context = ...``) when an
    #: administrator changes either, so a round in flight keeps the one it started with.
    context: Context


async def load_context(session: AsyncSession, settings: SlaSettings) -> Context:
    """Every calendar compiled and every policy, from the database."""
    return Context(
        calendars=await calendars.compile_all(session),
        policies=await policies.all_policies(session),
        default_calendar=settings.default_calendar,
    )


async def reload(session: AsyncSession, state: SlaState) -> None:
    """After an administrator's change (committed): a fresh context for what comes next."""
    state.context = await load_context(session, state.settings)


def state_of(runtime: Runtime) -> SlaState:
    return runtime.state_as(SlaState)


StateDep = Annotated[SlaState, state_dependency(SlaState)]
