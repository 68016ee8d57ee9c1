"""A service's runtime without serving it, for the command-line tools
(``python -m services.keys``, ``python -m services.streams``): settings from the
environment, the database and the authenticator, and no app, relay or consumer (so
the tools never import the app factory that serves their routes)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from services.auth import Authenticator
from services.database import Database, resolve_url
from services.registry import load_spec
from services.runtime import Runtime


@contextlib.asynccontextmanager
async def open_runtime(service: str) -> AsyncIterator[Runtime]:
    spec = load_spec(service)
    settings = spec.settings_class()
    db = Database(resolve_url(settings.database_url, settings.var_dir, spec.name), spec.schema, 2)
    runtime = Runtime(spec=spec, settings=settings, db=db)
    runtime.auth = Authenticator(runtime)
    try:
        yield runtime
    finally:
        await db.dispose()
