"""intake-svc wired into the common runtime."""

from pathlib import Path
from zoneinfo import ZoneInfo

from intake import cases, tables
from intake.casenumbers import CaseNumbers
from intake.consumers import SUBSCRIPTIONS
from intake.cti_routes import key_in_path_router as cti_key_in_path_router
from intake.cti_routes import router as cti_router
from intake.routes import actions_router, router
from intake.settings import IntakeSettings
from intake.state import IntakeState
from services.app import ServiceSpec
from services.crypto import cipher_from_settings
from services.runtime import Runtime
from shared.events import Topics


async def _start(runtime: Runtime) -> None:
    s = runtime.settings_as(IntakeSettings)
    runtime.cipher = cipher_from_settings(s.field_encryption_key, s.field_hash_key, runtime.name)
    numbers = CaseNumbers(runtime.db, s.case_number_block, s.case_number_block_max)
    runtime.closers.append(numbers.close)
    runtime.state = IntakeState(s, runtime.cipher, numbers, ZoneInfo(s.local_timezone))


SPEC = ServiceSpec(
    name="intake-svc",
    schema=tables.SCHEMA,
    settings_class=IntakeSettings,
    runtime_tables=tables.runtime,
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router, actions_router, cti_router, cti_key_in_path_router],
    produces=[Topics.case_created, Topics.case_updated],
    subscriptions=SUBSCRIPTIONS,
    on_startup=_start,
    case_loader=cases.get_case_row,
    encrypted=[(tables.cases, "id", ["phone_enc", "id_number_enc"]), (tables.cti_calls, "call_id", ["caller_enc"])],
    description="Accepts cases from every channel; the system of record for a case and its lifecycle.",
)
