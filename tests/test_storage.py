"""What the migrations set on Postgres's storage (decision 0022): the tables of cases that
are updated soon after they are written leave room on each page, so that such an update
can stay on the row's page (heap-only) instead of adding an entry to every index."""

from __future__ import annotations

import asyncio

import asyncpg

from services.migrate import upgrade
from services.registry import load_spec
from tests.support.postgres import create_database, drop_database


async def _options(dsn: str) -> dict[str, list[str] | None]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT n.nspname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = 'cases' AND n.nspname IN ('intake', 'notify')"
        )
    finally:
        await conn.close()
    return {r["nspname"]: r["reloptions"] for r in rows}


def test_the_cases_tables_leave_room_for_heap_only_updates() -> None:
    name, url = create_database()
    try:
        for service in ("intake-svc", "notify-svc"):
            spec = load_spec(service)
            upgrade(spec.migrations_dir, url, spec.schema)
        assert asyncio.run(_options(url.replace("postgresql+asyncpg://", "postgresql://"))) == {
            "intake": ["fillfactor=85"],
            "notify": ["fillfactor=85"],
        }
    finally:
        drop_database(name)
