"""routing-svc's organisation kept in notify-svc: who leads and heads each unit, and
how to reach them. Kept in memory (``NotifyState.directory``) and in a table, so a
restart while routing is away still knows whom to tell."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from notify import tables as t
from notify.directory import Directory
from notify.peers import PeerError
from notify.state import state_of
from services.database import upsert, utcnow
from services.runtime import Runtime

log = logging.getLogger(__name__)


async def load_directory(session: AsyncSession) -> Directory | None:
    row = (await session.execute(select(t.directory).where(t.directory.c.name == "org"))).first()
    return Directory.from_document(row.document) if row else None


async def refresh_directory(runtime: Runtime) -> bool:
    """Read routing-svc's organisation once; keep it in memory and in the table."""
    state = state_of(runtime)
    try:
        doc = await state.peers.org_document()
    except PeerError as exc:
        log.warning("organisation not refreshed", extra={"error": str(exc)})
        return False
    async with runtime.db.session() as session:
        stmt = upsert(session, t.directory).values(name="org", document=doc, fetched_at=utcnow())
        await session.execute(
            stmt.on_conflict_do_update(index_elements=["name"], set_={"document": doc, "fetched_at": utcnow()})
        )
        await session.commit()
    state.directory = Directory.from_document(doc)
    return True


async def directory_worker(runtime: Runtime) -> None:
    """Keeps the organisation fresh: staff, leads, heads and e-mail addresses change."""
    s = state_of(runtime).settings
    while True:
        ok = await refresh_directory(runtime)
        await asyncio.sleep(s.directory_refresh_seconds if ok else min(5.0, s.directory_refresh_seconds))
