"""Fault scenario: the database restarted under a steady load, counted from outside.

The whole system runs on a PostgreSQL server of the test's own (``OwnPostgres``), so the
machine's server is left alone, with the local broker. Clients post cases at a steady
rate, each with its own ``source_ref``, and retry one that was not answered 2xx (503,
or a connection error) with the same body, as a real channel would. In the middle the
database is stopped (``pg_ctl stop -m fast``) and started again. Then, counted from
outside:

- no request was answered 500;
- every case a client was told about (201, or 200 for a retry of an accepted one) is
  in intake once, has one assignment in routing and its clocks in sla, and is on
  ``case.created`` and ``case.transferred`` once each (distinct events);
- the figures (requests, 503s, seconds to the first 2xx after the restart, seconds to
  drain) go to ``bench/results/faults-postgres-restart.json``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from conftest import FAST_ENV
from services.dev.issuer import mint_user
from services.dev.stack import Stack, dev_secrets
from shared.events import Topics
from tests.support.cases import complaint
from tests.support.own_postgres import OwnPostgres
from tests.support.tap import TopicTap

pytestmark = pytest.mark.stack

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
RATE = 20  # cases a second, steady
CLIENTS = 4


class Load:
    """Clients posting new cases at a steady rate; each case retried until answered 2xx."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.statuses: Counter[int | str] = Counter()
        self.accepted: set[str] = set()  # case ids the clients were told about
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def _client(self) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                body = complaint(source_ref=f"fault-{uuid.uuid4()}")
                while not self.stop.is_set():
                    try:
                        answer = http.post("/v1/cases", json=body)
                        status: int | str = answer.status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    with self._lock:
                        self.statuses[status] += 1
                    if status in (200, 201):
                        with self._lock:
                            self.accepted.add(answer.json()["id"])
                        break
                    time.sleep(0.2)  # Retry-After is 1-2 s; a channel retries sooner or later
                time.sleep(max(CLIENTS / RATE - (time.monotonic() - started), 0))

    def start(self) -> Load:
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(20)


async def _counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            "intake_cases": await conn.fetchval("SELECT count(*) FROM intake.cases"),
            "routing_assignments": await conn.fetchval("SELECT count(*) FROM routing.assignments"),
            "sla_cases": await conn.fetchval("SELECT count(*) FROM sla.cases"),
            "sla_cases_with_clocks": await conn.fetchval("SELECT count(DISTINCT case_id) FROM sla.clocks"),
        }
    finally:
        await conn.close()


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres().init()
    server.start()
    yield server
    server.remove()


def test_postgres_restarted_under_load_loses_nothing_and_doubles_nothing(
    own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    stack = Stack(var_dir=tmp_path, database_url=own_postgres.url, env=dict(FAST_ENV))
    stack.start()
    tap = TopicTap(stack.bootstrap or "", [Topics.case_created, Topics.case_transferred]).start()
    dsn = own_postgres.url.replace("postgresql+asyncpg://", "postgresql://")
    try:
        token = mint_user(dev_secrets(tmp_path)["DEV_ISSUER_KEY"], "agent-ho")
        load = Load(stack.url("intake-svc"), token).start()
        time.sleep(5)
        own_postgres.stop("fast")
        down_at = time.monotonic()
        time.sleep(3)
        own_postgres.start()
        up_at = time.monotonic()
        accepted_before = len(load.accepted)
        while len(load.accepted) == accepted_before and time.monotonic() - up_at < 60:
            time.sleep(0.1)
        recovered_s = time.monotonic() - up_at
        time.sleep(5)
        load.finish()
        finished = time.monotonic()
        accepted = set(load.accepted)
        counts: dict[str, int] = {}
        while time.monotonic() - finished < 60:
            counts = asyncio.run(_counts(dsn))
            if counts["routing_assignments"] >= len(accepted) and counts["sla_cases_with_clocks"] >= len(accepted):
                break
            time.sleep(0.5)
        drained_s = time.monotonic() - finished

        def distinct(topic: str) -> Counter[str]:
            """Case id -> how many distinct events (by event id) of the topic it had."""
            unique = {s.json()["event_id"]: s for s in tap.matching(lambda s: s.topic == topic)}
            return Counter((s.key or b"").decode() for s in unique.values())

        created, transferred = distinct(Topics.case_created), distinct(Topics.case_transferred)
        figures: dict[str, Any] = {
            "scenario": "postgres restarted (pg_ctl stop -m fast, 3 s down) under a steady load",
            "rate_per_second": RATE,
            "requests": sum(load.statuses.values()),
            "answers": {str(k): v for k, v in sorted(load.statuses.items(), key=str)},
            "cases_accepted": len(accepted),
            "database_down_seconds": round(up_at - down_at, 1),
            "seconds_to_first_2xx_after_restart": round(recovered_s, 2),
            "seconds_to_drain_after_load": round(drained_s, 1),
            "counts": counts,
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "faults-postgres-restart.json").write_text(json.dumps(figures, indent=1) + "\n")
        print(json.dumps(figures, indent=1))

        assert 500 not in load.statuses, load.statuses
        assert load.statuses[503] + sum(v for k, v in load.statuses.items() if isinstance(k, str)) > 0  # it was felt
        assert counts["intake_cases"] == len(accepted)  # every case told, once; none more
        assert counts["routing_assignments"] == len(accepted) == counts["sla_cases"]
        assert counts["sla_cases_with_clocks"] == len(accepted)
        assert set(created) == accepted and max(created.values()) == 1  # each event once, distinct
        assert set(transferred) >= accepted
    finally:
        tap.stop()
        stack.stop()
