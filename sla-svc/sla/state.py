"""What sla-svc's start-up builds, typed: routes reach it through ``StateDep``,
consumers and workers through ``state_of(runtime)`` (no string-keyed bag)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from services.deps import state_dependency
from services.metrics import Metrics
from services.reference import Versioned
from services.runtime import Runtime
from sla import calendars, policies
from sla.clocks import Context
from sla.settings import SlaSettings

log = logging.getLogger(__name__)
#: The name of the calendars' and policies' stamp (``services.reference``).
CALENDARS_AND_POLICIES = "calendars and policies"
#: How often each process compares its calendars and policies with the stamp.
CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class TimerMetrics:
    """sla's own figures on ``/metrics``: timers due now (read when scraped), fired, fired
    late (after downtime or a slow round), and the alerts sent by clock and level."""

    due: Gauge
    fired: Counter
    late: Counter
    alerts: Counter

    @classmethod
    def of(cls, metrics: Metrics) -> TimerMetrics:
        return cls(
            metrics.gauge("timers_due", "Timers past their due time and not yet fired"),
            metrics.counter("timers_fired", "Timers fired"),
            metrics.counter("timers_fired_late", "Alerts sent later than LATE_TOLERANCE_SECONDS after their due time"),
            metrics.counter("overdue_alerts", "case.overdue events staged, by clock and level", ("clock", "level")),
        )


@dataclass
class SlaState:
    settings: SlaSettings
    #: Calendars and policies in memory, behind their stamp: replaced whole when an
    #: administrator changes either, here or in another replica (``context_in``).
    reference: Versioned[Context]
    metrics: TimerMetrics

    @property
    def context(self) -> Context:
        """The calendars and policies as last loaded (the API's reads; a round keeps the
        one it started with)."""
        return self.reference.value

    async def context_in(self, session: AsyncSession) -> Context:
        """The calendars and policies, another replica's change brought in first: the
        stamp is read at most every ``CHECK_SECONDS``, when a batch or a timer round
        needs them. Nothing reads it while nothing happens (issue 14: at rest)."""
        return await self.reference.get(session)


async def load_context(session: AsyncSession, settings: SlaSettings) -> Context:
    """Every calendar compiled and every policy, from the database."""
    return Context(
        calendars=await calendars.compile_all(session),
        policies=await policies.all_policies(session),
        default_calendar=settings.default_calendar,
    )


async def new_state(runtime: Runtime, session: AsyncSession) -> SlaState:
    settings = runtime.settings_as(SlaSettings)

    async def load(session: AsyncSession) -> Context:
        return await load_context(session, settings)

    reference = Versioned(runtime.tables, CALENDARS_AND_POLICIES, load, check_seconds=CHECK_SECONDS)
    await reference.get(session)
    return SlaState(settings, reference, TimerMetrics.of(runtime.metrics))


async def reload(session: AsyncSession, state: SlaState) -> None:
    """After an administrator's change (in this transaction): stamped, so that every
    other replica reloads too, and a fresh context here for what comes next."""
    await state.reference.changed(session)


def state_of(runtime: Runtime) -> SlaState:
    return runtime.state_as(SlaState)


StateDep = Annotated[SlaState, state_dependency(SlaState)]
