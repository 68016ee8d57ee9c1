"""The live feed: Server-Sent Events over a real connection, resumed from the last id."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from notify import tables as t
from notify.feed import prune
from notify.service import SPEC
from services.database import utcnow
from tests.support.inprocess import InProcess, serving

from .conftest import FAST, CaseEvents


async def read_events(client: httpx.AsyncClient, n: int, **kwargs: Any) -> list[dict[str, Any]]:
    """Open the stream, read ``n`` events, hang up."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with client.stream("GET", "/v1/feed", timeout=10, **kwargs) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith(("id:", "event:", "data:")):
                key, value = line.split(":", 1)
                current[key] = value.strip()
            elif line == "" and "id" in current:
                events.append({"id": int(current["id"]), "event": current["event"], **json.loads(current["data"])})
                current = {}
                if len(events) == n:
                    break
    return events


async def test_feed_streams_and_resumes_from_last_event_id(
    backend: tuple[Path, str | None], routing: InProcess
) -> None:
    var_dir, url = backend
    async with serving(SPEC, var_dir, url, **FAST, routing_url=routing.url) as notify:
        case = CaseEvents(tier="major")
        feeder = notify.feeder()
        for envelope in (case.created(major=True), case.transferred("GD-SZ.cs", "u-sz-cs-1"), case.overdue("breach")):
            await feeder.apply(envelope)

        first_two = await read_events(notify.client, 2)
        assert [e["event"] for e in first_two] == ["case.major", "case.assigned"]
        assert first_two[0]["case"]["case_no"] == case.case_no and "phone" not in json.dumps(first_two)

        # The dashboard reconnects with the last id it saw, and a new event arrives meanwhile.
        await feeder.apply(case.updated("close", "closed"))
        rest = await read_events(notify.client, 2, headers={"Last-Event-ID": str(first_two[1]["id"])})
        assert [e["event"] for e in rest] == ["sla.breach", "case.closed"]
        assert rest[0]["id"] > first_two[1]["id"]

        # Filters: only breaches, only Guangdong's subtree (Beijing's breach is left out).
        beijing = CaseEvents(branch_code="BJ")
        await feeder.apply(beijing.overdue("breach"))
        await feeder.apply(CaseEvents(branch_code="GD-GZ").overdue("breach"))
        only = await read_events(notify.client, 2, params={"events": "sla.breach", "branch_code": "GD"})
        assert [e["case"]["branch_code"] for e in only] == ["GD-SZ", "GD-GZ"]


async def test_old_feed_entries_are_pruned(notify: InProcess) -> None:
    feeder = notify.feeder()
    case = CaseEvents()
    await feeder.apply(case.created())
    await feeder.apply(case.overdue("breach"))
    async with notify.runtime.db.session() as session:
        await session.execute(
            t.feed.update().where(t.feed.c.event == "case.created").values(at=utcnow() - timedelta(days=8))
        )
        await session.commit()
    assert await prune(notify.runtime, timedelta(days=7)) == 1
    assert await notify.count(t.feed) == 1
