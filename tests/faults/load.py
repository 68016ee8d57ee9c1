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

from tests.support.cases import complaint
from tests.support.tap import TopicTap

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
RATE = 20  # cases a second, steady
CLIENTS = 4


class Load:
    """Clients posting new cases at a steady rate; each case retried until answered 2xx."""

    def __init__(self, url: str, token: str, days_ago: float = 0) -> None:
        self.url, self.token, self.days_ago = url, token, days_ago
        self.statuses: Counter[int | str] = Counter()
        self.accepted: set[str] = set()  # case ids the clients were told about
        #: Cases first answered by a retry with 200 (the case an earlier attempt made): an
        #: attempt committed its case but its answer never reached the client.
        self.replayed: set[str] = set()
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def _client(self) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                body = complaint(self.days_ago, source_ref=f"fault-{uuid.uuid4()}")
                tries = 0
                while not self.stop.is_set():
                    tries += 1
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
                            if status == 200 and tries > 1:
                                self.replayed.add(answer.json()["id"])
                        break
                    time.sleep(0.2)  # Retry-After is 1-2 s; a channel retries sooner or later
                time.sleep(max(CLIENTS / RATE - (time.monotonic() - started), 0))

    def figures(self) -> dict[str, Any]:
        """What every scenario reports of its load: the rate, the requests and their answers."""
        return {
            "rate_per_second": RATE,
            "requests": sum(self.statuses.values()),
            "answers": {str(k): v for k, v in sorted(self.statuses.items(), key=str)},
            "cases_accepted": len(self.accepted),
            "cases_answered_only_on_retry": len(self.replayed),
        }

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


def write_figures(name: str, figures: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"faults-{name}.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures, indent=1))
