"""routing-svc wired into the common runtime."""

from pathlib import Path

from routing import orgadmin, tables, views
from routing.consumers import SUBSCRIPTIONS
from routing.org_routes import router as org_router
from routing.queues import queue_worker
from routing.routes import router
from routing.settings import RoutingSettings
from routing.state import ORGANISATION, new_state
from services.app import ServiceSpec
from services.reference import bump
from services.runtime import Runtime
from shared.events import Topics


async def _start(runtime: Runtime) -> None:
    state = new_state(runtime)
    runtime.state = state
    seed = state.settings.routing_seed_file
    if seed:
        async with runtime.db.session() as session:
            if await orgadmin.is_empty(session):
                await orgadmin.import_document(session, orgadmin.read_file(Path(seed)))
                await bump(session, runtime.tables, ORGANISATION)  # a replica that started first reloads
                await session.commit()


SPEC = ServiceSpec(
    case_loader=views.case_scope,
    name="routing-svc",
    schema=tables.SCHEMA,
    settings_class=RoutingSettings,
    runtime_tables=tables.runtime,
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router, org_router],
    produces=[Topics.case_transferred],
    subscriptions=SUBSCRIPTIONS,
    workers=[queue_worker],
    on_startup=_start,
    description="Decides who handles a case, assigns, transfers, escalates; records the first responder.",
)
