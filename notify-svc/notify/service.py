"""notify-svc wired into the common runtime."""

from pathlib import Path

from notify import tables
from notify.consumers import SUBSCRIPTIONS
from notify.routes import router
from notify.settings import NotifySettings
from notify.webhook import delivery_worker
from services.app import ServiceSpec
from services.crypto import cipher_from_settings
from services.runtime import Runtime


async def _start(runtime: Runtime) -> None:
    s = runtime.settings
    runtime.extras["cipher"] = cipher_from_settings(s.field_encryption_key, s.field_hash_key, runtime.name)


SPEC = ServiceSpec(
    name="notify-svc",
    schema=tables.SCHEMA,
    settings_class=NotifySettings,
    runtime_tables=tables.runtime,
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router],
    subscriptions=SUBSCRIPTIONS,
    workers=[delivery_worker],
    on_startup=_start,
    description="Tells people: ops alerts, assignees, customers.",
)
