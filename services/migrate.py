"""Alembic, one migration history per service, its version table in its own schema.

``upgrade(spec, url)`` runs at service start-up (and in tests); each service's
``migrations/env.py`` is three lines that call ``run_env``. ``include_name`` keeps
autogenerate to the service's own schema, so no service ever touches another's
tables. Usage for developers::

    python -m services.migrate intake-svc revision -m "add notes" --autogenerate
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import BigInteger, MetaData, pool, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.database import UTCDateTime


def alembic_config(migrations_dir: Path, url: str, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.attributes["url"] = url
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(migrations_dir: Path, url: str, schema: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run on every start (a no-op when current)."""
    command.upgrade(alembic_config(migrations_dir, url, schema), revision)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's ``env.py``."""
    cfg = context.config
    url: str = cfg.attributes["url"]
    schema: str = cfg.attributes["schema"]
    asyncio.run(_run_async(url, schema, target_metadata))


async def _run_async(url: str, schema: str, target_metadata: MetaData) -> None:
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as conn:
        if not is_sqlite:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.commit()
        else:
            conn = await conn.execution_options(schema_translate_map={schema: None})
        await conn.run_sync(_do_run, schema, target_metadata, is_sqlite)
        await conn.commit()
    await engine.dispose()


def _do_run(conn: Connection, schema: str, target_metadata: MetaData, is_sqlite: bool) -> None:
    def include_name(name: str | None, type_: str, _parent: Any) -> bool:
        return name == schema if type_ == "schema" else True

    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        version_table_schema=None if is_sqlite else schema,
        include_schemas=not is_sqlite,
        include_name=include_name,
        render_as_batch=is_sqlite,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Autogenerate writes our column types by name, with their import."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("from services.database import UTCDateTime")
        return "UTCDateTime()"
    if type_ == "type" and isinstance(obj, BigInteger) and "sqlite" in getattr(obj, "_variant_mapping", {}):
        autogen_context.imports.add("from services.tables import BigId")
        return "BigId"
    return False


def main(argv: list[str]) -> None:
    from services.database import resolve_url
    from services.registry import load_spec

    service, verb, *rest = argv
    spec = load_spec(service)
    settings = spec.settings_class()
    url = resolve_url(settings.database_url, settings.var_dir, spec.name)
    cfg = alembic_config(spec.migrations_dir, url, spec.schema)
    if verb == "upgrade":
        command.upgrade(cfg, rest[0] if rest else "head")
    elif verb == "revision":
        message = rest[rest.index("-m") + 1] if "-m" in rest else "change"
        command.revision(cfg, message=message, autogenerate="--autogenerate" in rest)
    else:
        raise SystemExit(f"unknown verb {verb!r}: upgrade | revision")


if __name__ == "__main__":
    main(sys.argv[1:])


def schema_of(name: str) -> str | None:
    """The schema a migration writes to: the service's own on Postgres, none on SQLite
    (Alembic's ALTER statements do not go through ``schema_translate_map``)."""
    return None if context.get_context().dialect.name == "sqlite" else name
