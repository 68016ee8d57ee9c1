"""Overload is shed with a clear answer (issue 17): past its bound on requests in
flight, a service answers 503 with ``Retry-After`` at once instead of queueing, and
the requests it admitted finish as usual."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from starlette.types import Receive, Scope, Send

from intake.service import SPEC as INTAKE
from services.shedding import Shed, ShedMiddleware, in_flight_limit
from tests.support.cases import complaint
from tests.support.inprocess import running


def test_the_bound_is_sized_from_the_database_pool() -> None:
    assert in_flight_limit(20, None) == 40  # 20 connections (kept and overflow), twice
    assert in_flight_limit(10, 5) == 5


async def test_past_its_bound_a_service_answers_503_with_retry_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(INTAKE, tmp_path, None, max_in_flight=3, shed_grace_seconds=0) as intake:
        shed = intake.app.state.shed
        assert shed.limit == 3
        given = [{"X-Correlation-Id": f"call-{i}"} for i in range(12)]
        answers = await asyncio.gather(*(intake.client.post("/v1/cases", json=complaint(), headers=h) for h in given))
        statuses = sorted(a.status_code for a in answers)
        refused = [a for a in answers if a.status_code == 503]
        assert refused and set(statuses) == {201, 503}, statuses
        assert all(a.headers["Retry-After"] == "1" and "at its limit" in a.json()["detail"] for a in refused)
        assert all(a.json()["retry_after_seconds"] == 1 for a in refused)
        # The edge's headers, though the refusal never reached it: security headers, and
        # the caller's correlation id echoed in the header and the problem.
        assert all(a.headers["X-Content-Type-Options"] == "nosniff" for a in refused)
        assert all(a.headers["Cache-Control"] == "no-store" for a in refused)
        sent = {h["X-Correlation-Id"] for h in given}
        assert {a.headers["X-Correlation-Id"] for a in refused} <= sent
        assert all(a.json()["correlation_id"] == a.headers["X-Correlation-Id"] for a in refused)
        assert shed.in_flight == 0 and shed.refused == len(refused)
        # Counted, not audited and not logged one by one: one summary line says how many.
        metrics = (await intake.client.get("/metrics")).text
        assert f"http_requests_shed_total {float(len(refused))}" in metrics
        async with intake.runtime.db.session() as session:
            audit = intake.runtime.tables.audit_log
            assert await session.scalar(select(func.count()).select_from(audit).where(audit.c.status == 503)) == 0
            assert await session.scalar(select(func.count()).select_from(audit)) == statuses.count(201)
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        requests = [line["status"] for line in lines if line["logger"] == "request"]
        assert requests.count(201) == statuses.count(201) and 503 not in requests
        summaries = [line for line in lines if line["logger"] == "services.shedding"]
        assert [s["refused"] for s in summaries] == [1]  # the first refusal; the rest came within 10 s
        health = await intake.client.get("/healthz")
        assert health.status_code == 200  # never counted, never refused
        # Nothing half-made: each 201 is one case, each 503 none.
        listed = (await intake.client.get("/v1/cases", params={"limit": 50})).json()["items"]
        assert len(listed) == statuses.count(201)


class Held:
    """An app behind the real shedder whose requests stay in flight until let go."""

    def __init__(self, shed: Shed) -> None:
        self.go = asyncio.Event()
        self.app = ShedMiddleware(self._held, shed)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")

    async def _held(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.go.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def refused(self) -> bool:
        """Whether one more request is refused at once (one admitted would wait: a test
        that expects a refusal fails, rather than hangs, when it is admitted)."""
        try:
            answer = await asyncio.wait_for(self.client.post("/v1/cases"), 2)
        except TimeoutError:
            return False
        return answer.status_code == 503

    def start(self, count: int) -> list[asyncio.Task[httpx.Response]]:
        return [asyncio.create_task(self.client.post("/v1/cases")) for _ in range(count)]


async def settled(shed: Shed, in_flight: int) -> None:
    for _ in range(200):
        if shed.in_flight == in_flight:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{shed.in_flight} in flight, not {in_flight}")


async def test_a_crowd_over_the_bound_is_admitted_for_the_grace_up_to_the_ceiling() -> None:
    shed = Shed(2, grace=30.0)  # bound 2, ceiling 8; a grace no slow machine outlasts here
    held = Held(shed)
    first = held.start(8)  # 2 under the bound, 6 over it within the grace
    await settled(shed, 8)
    assert shed.refused == 0 and shed.over_since is not None
    assert await held.refused() and shed.refused == 1  # at the ceiling
    held.go.set()
    assert [a.status_code for a in await asyncio.gather(*first)] == [204] * 8
    assert shed.in_flight == 0


async def test_a_crowd_that_stays_past_the_grace_is_refused_until_it_falls_below_the_bound() -> None:
    shed = Shed(2, grace=0.5)  # time enough for the second crowd below to gather within it
    held = Held(shed)
    first = held.start(3)  # the third goes over the bound: the grace starts
    await settled(shed, 3)
    await asyncio.sleep(0.55)
    assert await held.refused() and shed.refused == 1  # past the grace, under the ceiling
    held.go.set()
    await asyncio.gather(*first)
    held.go.clear()
    again = held.start(4)  # under the bound again: a new crowd has a grace of its own
    await settled(shed, 4)
    assert shed.refused == 1
    held.go.set()
    assert [a.status_code for a in await asyncio.gather(*again)] == [204] * 4


async def test_with_no_grace_the_bound_is_strict() -> None:
    shed = Shed(2, grace=0.0)
    held = Held(shed)
    first = held.start(2)
    await settled(shed, 2)
    assert await held.refused()
    held.go.set()
    await asyncio.gather(*first)
