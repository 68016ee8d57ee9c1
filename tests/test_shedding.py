"""Overload is shed with a clear answer (issue 17): past its bound on requests in
flight, a service answers 503 with ``Retry-After`` at once instead of queueing, and
the requests it admitted finish as usual."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.service import SPEC as INTAKE
from services.shedding import in_flight_limit
from tests.support.cases import complaint
from tests.support.inprocess import running


def test_the_bound_is_sized_from_the_database_pool() -> None:
    assert in_flight_limit(20, None) == 40  # 20 connections (kept and overflow), twice
    assert in_flight_limit(10, 5) == 5


async def test_past_its_bound_a_service_answers_503_with_retry_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(INTAKE, tmp_path, None, max_in_flight=3) as intake:
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
