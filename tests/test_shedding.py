"""Overload is shed with a clear answer (issue 17): past its bound on requests in
flight, a service answers 503 with ``Retry-After`` at once instead of queueing, and
the requests it admitted finish as usual."""

from __future__ import annotations

import asyncio
from pathlib import Path

from intake.service import SPEC as INTAKE
from services.shedding import in_flight_limit
from tests.support.cases import complaint
from tests.support.inprocess import running


def test_the_bound_is_sized_from_the_database_pool() -> None:
    assert in_flight_limit(10, None) == 40  # 10 pooled + 10 overflow connections, twice
    assert in_flight_limit(10, 5) == 5


async def test_past_its_bound_a_service_answers_503_with_retry_after(tmp_path: Path) -> None:
    async with running(INTAKE, tmp_path, None, max_in_flight=3) as intake:
        shed = intake.app.state.shed
        assert shed.limit == 3
        answers = await asyncio.gather(*(intake.client.post("/v1/cases", json=complaint()) for _ in range(12)))
        statuses = sorted(a.status_code for a in answers)
        refused = [a for a in answers if a.status_code == 503]
        assert refused and set(statuses) == {201, 503}, statuses
        assert all(a.headers["Retry-After"] == "1" and "at its limit" in a.json()["detail"] for a in refused)
        assert all(a.headers["X-Content-Type-Options"] == "nosniff" for a in refused)  # still through the edge
        assert shed.in_flight == 0 and shed.refused == len(refused)
        health = await intake.client.get("/healthz")
        assert health.status_code == 200  # never counted, never refused
        # Nothing half-made: each 201 is one case, each 503 none.
        listed = (await intake.client.get("/v1/cases", params={"limit": 50})).json()["items"]
        assert len(listed) == statuses.count(201)
