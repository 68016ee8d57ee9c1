"""The live feed for dashboards: every event as Server-Sent Events, resumable.

Each event the consumer takes in is written to ``feed`` in the same transaction,
so the feed has exactly the events notify has seen, once each, in one order. The
SSE ``id`` is the row id: a dashboard that lost its connection reconnects with
``Last-Event-ID`` (browsers do this themselves) and gets everything after it,
nothing twice. Rows carry no personal data (events never do). Rows older than
``FEED_RETENTION_DAYS`` are pruned hourly: a dashboard away longer than that starts
again from what is left.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from sqlalchemy import select

from notify import tables as t
from notify.state import state_of
from services.auth import Principal
from services.database import changed_rows, utcnow
from services.runtime import Runtime
from shared.org import in_subtree

KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 0.3
BATCH = 200


async def stream(
    runtime: Runtime,
    after: int,
    branch_code: str | None,
    events: list[str],
    disconnected: Callable[[], Awaitable[bool]],
    who: Principal,
) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    idle = 0.0
    while not await disconnected():
        async with runtime.db.session() as session:
            query = select(t.feed).where(t.feed.c.id > after).order_by(t.feed.c.id).limit(BATCH)
            rows = (await session.execute(query)).all()
        for row in rows:
            after = row.id
            if events and not set(events) & set(row.data.get("notifications", [])):
                continue
            case = row.data.get("case", {})
            if not who.sees_case(row.branch_code, case.get("assignee"), case.get("owner")):
                continue
            if branch_code and not in_subtree(row.branch_code, branch_code):
                continue
            data = {"case_id": str(row.case_id), "at": row.at.isoformat(), **row.data}
            yield f"id: {row.id}\nevent: {row.event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        if len(rows) == BATCH:
            continue
        await asyncio.sleep(POLL_SECONDS)
        idle += POLL_SECONDS
        if idle >= KEEPALIVE_SECONDS:
            idle = 0.0
            yield ": keep-alive\n\n"


async def prune(runtime: Runtime, older_than: timedelta) -> int:
    async with runtime.db.session() as session:
        removed = await changed_rows(session, t.feed.delete().where(t.feed.c.at < utcnow() - older_than))
        await session.commit()
    return removed


async def feed_pruner(runtime: Runtime) -> None:
    days = state_of(runtime).settings.feed_retention_days
    while True:
        await prune(runtime, timedelta(days=days))
        await asyncio.sleep(3600)
