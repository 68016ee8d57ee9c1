"""``services.native`` finds a session's connection once per transaction (each lookup
through the session is two greenlet hops) and keeps it without keeping the session
alive: a request's session is freed as soon as it is dropped, not by the cyclic
garbage collector (a strong reference cost +5% instructions per new case)."""

from __future__ import annotations

import gc
import uuid
import weakref
from pathlib import Path

from sqlalchemy import select

from services import deferred, native
from services.database import utcnow, write_ahead
from services.registry import load_spec
from tests.support.inprocess import running


def outbox_row() -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "topic": "case.created", "key": "k", "value": "{}", "created_at": utcnow()}


async def test_one_lookup_per_transaction_and_the_session_freed_when_dropped(postgres_url: str, tmp_path: Path) -> None:
    async with running(load_spec("intake-svc"), tmp_path, postgres_url) as intake:
        db, outbox = intake.runtime.db, intake.runtime.tables.outbox
        probe = select(outbox.c.id).where(outbox.c.event_id == "none")
        async with db.session() as session:
            await native.first(session, probe, {})
            first = await native._connection_of(session)  # noqa: SLF001
            assert await native._connection_of(session) == first  # noqa: SLF001 - kept
            await session.rollback()  # a new transaction: looked up again
            await native.first(session, probe, {})
            assert (await native._connection_of(session))[0] is await session.connection()  # noqa: SLF001

        gc.collect()
        gc.disable()
        try:
            async with db.session() as session:
                await native.first(session, probe, {})
                deferred.defer(session, outbox, [outbox_row()])
                await write_ahead(session, final=True)
                await db.commit(session)
            dropped = weakref.ref(session.sync_session)
            del session
            assert dropped() is None, "the session outlived its last reference: a reference cycle"
        finally:
            gc.enable()
