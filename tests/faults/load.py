"""What the fault scenarios share: a steady load of clients that retry as a channel
would, and the counts taken from outside (the databases, the topics)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from shared.events import Topics
from tests.support.cases import complaint
from tests.support.tap import TopicTap

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
RATE = 20  # cases a second, steady
RETRY_SECONDS = 0.2  # Retry-After is 1-2 s; a channel retries sooner or later


class Load:
    """New cases arriving at ``rate`` a second, open loop: each arrival is its own client,
    posting when it arrives whatever the answers to the others, and retrying (the same
    body, so the same ``source_ref``) until answered 2xx. A slow or refusing service
    therefore meets the demand as it is, not the demand slowed down to its pace (no
    coordinated omission). ``rate`` may be changed while it runs (a surge)."""

    def __init__(self, url: str, token: str, days_ago: float = 0, rate: float = RATE) -> None:
        self.url, self.token, self.days_ago, self.rate = url, token, days_ago, rate
        self.statuses: Counter[int | str] = Counter()
        self.accepted: set[str] = set()  # case ids the clients were told about
        #: Cases first answered by a retry with 200 (the case an earlier attempt made): an
        #: attempt committed its case but its answer never reached the client.
        self.replayed: set[str] = set()
        self.latencies: list[float] = []  # seconds, of every request answered 2xx
        self.waiting = 0  # arrivals not yet answered 2xx
        self.stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        # No queue of our own. An idle connection is dropped after 2 s, before the server's
        # keep-alive of 5 s (uvicorn's): reused just as the server closes it, a request
        # fails with ReadError having reached no route, which is the client's race, not
        # an answer of the service (seen once under the surge, CI of 2026-12-04).
        limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200, keepalive_expiry=2.0)
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10, limits=limits) as http:
            arrivals: set[asyncio.Task[None]] = set()
            next_at = time.monotonic()
            while not self.stop.is_set():
                task = asyncio.create_task(self._arrival(http))
                arrivals.add(task)
                task.add_done_callback(arrivals.discard)
                next_at += 1 / self.rate
                await asyncio.sleep(max(next_at - time.monotonic(), 0))
            await asyncio.wait_for(asyncio.gather(*arrivals, return_exceptions=True), 20)

    async def _arrival(self, http: httpx.AsyncClient) -> None:
        body = complaint(self.days_ago, source_ref=f"fault-{uuid.uuid4()}")
        self.waiting += 1
        tries = 0
        while not self.stop.is_set():
            tries += 1
            sent = time.monotonic()
            try:
                answer = await http.post("/v1/cases", json=body)
                status: int | str = answer.status_code
                if status in (429, 503) and not answer.headers.get("Retry-After", "").isdigit():
                    status = f"{status} without Retry-After"
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            self.statuses[status] += 1
            if status in (200, 201):
                self.accepted.add(answer.json()["id"])
                self.latencies.append(time.monotonic() - sent)
                if status == 200 and tries > 1:
                    self.replayed.add(answer.json()["id"])
                break
            await asyncio.sleep(RETRY_SECONDS)
        self.waiting -= 1

    def figures(self) -> dict[str, Any]:
        """What every scenario reports of its load: the rate, the requests and their answers."""
        ordered = sorted(self.latencies)

        def percentile(p: float) -> float | None:
            return round(ordered[min(int(len(ordered) * p), len(ordered) - 1)] * 1000, 1) if ordered else None

        return {
            "rate_per_second": self.rate,
            "requests": sum(self.statuses.values()),
            "answers": {str(k): v for k, v in sorted(self.statuses.items(), key=str)},
            "cases_accepted": len(self.accepted),
            "cases_answered_only_on_retry": len(self.replayed),
            "latency_ms_of_2xx": {"p50": percentile(0.5), "p99": percentile(0.99), "max": percentile(1.0)},
        }

    def start(self) -> Load:
        self._thread.start()
        return self

    def finish(self) -> None:
        """No new arrivals; those still waiting have their last try, then give up."""
        self.stop.set()
        self._thread.join(30)


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


async def counts_of(dsn: str, expected: int, seconds: float = 60) -> dict[str, int]:
    """The counts once every accepted case is assigned and clocked (or after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        counts = await _counts(dsn)
        done = counts["routing_assignments"] >= expected and counts["sla_cases_with_clocks"] >= expected
        if done or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.5)


def distinct_events(tap: TopicTap, topic: str) -> Counter[str]:
    """Case id -> how many distinct events (by event id) of the topic it had."""
    unique = {s.json()["event_id"]: s for s in tap.matching(lambda s: s.topic == topic)}
    return Counter((s.key or b"").decode() for s in unique.values())


def events_seen(tap: TopicTap, topic: str, expected: set[str], seconds: float = 30) -> Counter[str]:
    """``distinct_events`` once every expected case has one (or after ``seconds``): a change
    is committed a moment before its event is on the bus, and the tap's fetch waits too."""
    deadline = time.monotonic() + seconds
    while True:
        seen = distinct_events(tap, topic)
        if set(seen) >= expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def plain_dsn(url: str) -> str:
    """asyncpg's DSN for a services' ``DATABASE_URL``, to count from outside."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


def settled(
    url: str, tap: TopicTap, accepted: set[str], since: float, seconds: float = 180
) -> tuple[dict[str, int], Counter[str], float]:
    """Once every accepted case is assigned and clocked (or after ``seconds``): the counts,
    each case's distinct ``case.created`` events, and the seconds it took from ``since``."""
    counts = asyncio.run(counts_of(plain_dsn(url), len(accepted), seconds))
    took = time.monotonic() - since
    return counts, events_seen(tap, Topics.case_created, accepted, seconds=60), took


def assert_every_case_once(counts: dict[str, int], created: Counter[str], accepted: set[str]) -> None:
    """Nothing lost, nothing doubled: every case the clients were told of is in intake
    once (and no other), assigned, clocked, and on ``case.created`` as one event."""
    assert counts["intake_cases"] == len(accepted) == counts["routing_assignments"] == counts["sla_cases"], counts
    assert counts["sla_cases_with_clocks"] == len(accepted), counts
    assert set(created) == accepted and max(created.values()) == 1


def write_figures(name: str, figures: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"faults-{name}.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))
