"""sla-svc wired into the common runtime."""

from pathlib import Path

from services.app import ServiceSpec
from services.runtime import Runtime
from shared.events import Topics
from sla import calendars, tables
from sla.consumers import SUBSCRIPTIONS
from sla.routes import router
from sla.settings import SlaSettings
from sla.timers import timer_worker


async def _start(runtime: Runtime) -> None:
    s: SlaSettings = runtime.settings  # type: ignore[assignment]
    async with runtime.db.session() as session:
        await calendars.seed_from_file(session, s.holiday_file)
        await session.commit()
        runtime.extras["calendar"] = await calendars.load(session, s.calendar, s.local_timezone, s.close_of_business)


SPEC = ServiceSpec(
    name="sla-svc",
    schema=tables.SCHEMA,
    settings_class=SlaSettings,
    runtime_tables=tables.runtime,
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router],
    produces=[Topics.case_overdue],
    subscriptions=SUBSCRIPTIONS,
    workers=[timer_worker],
    on_startup=_start,
    description="Time limits: working-day calendars, one clock per stage, warnings and breaches.",
)
