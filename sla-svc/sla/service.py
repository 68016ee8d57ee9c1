"""sla-svc wired into the common runtime."""

from pathlib import Path

from services.app import ServiceSpec
from services.runtime import Runtime
from shared.events import Topics
from sla import calendars, policies, reports, tables
from sla.clocks import Context
from sla.consumers import SUBSCRIPTIONS
from sla.routes import admin_router, router
from sla.settings import SlaSettings
from sla.timers import timer_worker


async def load_context(runtime: Runtime) -> Context:
    s: SlaSettings = runtime.settings  # type: ignore[assignment]
    async with runtime.db.session() as session:
        return Context(
            calendars=await calendars.compile_all(session),
            policies=await policies.all_policies(session),
            default_calendar=s.default_calendar,
        )


async def _start(runtime: Runtime) -> None:
    s: SlaSettings = runtime.settings  # type: ignore[assignment]
    async with runtime.db.session() as session:
        await calendars.seed_cn(session, s.default_calendar)
        await policies.seed(session)
        await session.commit()
    runtime.extras["sla"] = await load_context(runtime)


SPEC = ServiceSpec(
    case_scope=reports.case_scope,
    name="sla-svc",
    schema=tables.SCHEMA,
    settings_class=SlaSettings,
    runtime_tables=tables.runtime,
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router, admin_router],
    produces=[Topics.case_overdue],
    subscriptions=SUBSCRIPTIONS,
    workers=[timer_worker],
    on_startup=_start,
    description="Time limits: working-day calendars, policies of clocks, warnings, breaches and escalations.",
)
