"""Entry point of every service process: wait for the database, migrate, then serve.

python -m services.serve intake-svc
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn

from services import logging as service_logging
from services.app import create_app
from services.database import Database, resolve_url
from services.migrate import upgrade
from services.registry import load_spec


def main(name: str) -> None:
    spec = load_spec(name)
    settings = spec.settings_class()
    service_logging.configure(spec.name, settings.log_level)
    url = resolve_url(settings.database_url, settings.var_dir, spec.name)
    asyncio.run(_wait_for_database(url, spec.schema, settings.db_wait_seconds))
    upgrade(spec.migrations_dir, url, spec.schema)
    uvicorn.run(
        create_app(spec, settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


async def _wait_for_database(url: str, schema: str, seconds: float) -> None:
    db = Database(url, schema, pool_size=1)
    try:
        await db.wait_until_up(seconds)
    finally:
        await db.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
