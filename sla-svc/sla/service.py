"""sla-svc wired into the common runtime."""

from pathlib import Path

from services.app import ServiceSpec
from services.database import utcnow
from services.runtime import Runtime
from shared.events import Topics
from shared.ops import OpsAlert
from sla import calendars, policies, reports, tables
from sla.consumers import SUBSCRIPTIONS
from sla.routes import admin_router, router
from sla.settings import SlaSettings
from sla.state import SlaState, new_state
from sla.timers import due_now, timer_worker


def _ops_alerts(runtime: Runtime) -> list[OpsAlert]:
    """A coming year without its holiday notice (from 1 November), for ``/readyz`` and ops."""
    state = runtime.state
    return calendars.notice_alerts(state.context.calendars, utcnow()) if isinstance(state, SlaState) else []


async def _start(runtime: Runtime) -> None:
    s = runtime.settings_as(SlaSettings)
    async with runtime.db.session() as session:
        await calendars.seed_cn(session, s.default_calendar)
        await policies.seed(session)
        await session.commit()
        runtime.state = await new_state(runtime, session)


SPEC = ServiceSpec(
    case_loader=reports.case_scope,
    ops_alerts=_ops_alerts,
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
    on_scrape=due_now,
    description="Time limits: working-day calendars, policies of clocks, warnings, breaches and escalations.",
)
