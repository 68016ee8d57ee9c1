"""Fault scenario: a surge at ten times the steady load for 60 s.

A steady load of 20 cases a second runs throughout; for one minute a compiled
open-loop generator (``bench/openloop.c``) adds nine times as much on top (a regional
outage sends every policyholder to the hotline at once), each request due at its
moment whatever the answers to the others. The services shed what they cannot take
now (503 with ``Retry-After``, ``services.shedding``) instead of letting every request
wait; afterwards the channel retries, with the same body (and ``source_ref``), every
request whose answer it did not get and a sample of those refused, and the consumers'
lag, however far it grew, drains.

Counted from outside: no request answered 500 and every refusal carries
``Retry-After``; intake holds exactly the cases the clients were told of (a refusal
stored nothing; a retry of one that was in fact accepted gets the same case), each
assigned and clocked, once on ``case.created``; nothing
dead-lettered. Figures (answers, latency, the rate accepted, time to drain) to
``bench/results/faults-surge.json``.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.loadgen import OpenLoop
from conftest import FAST_ENV
from services.dev.issuer import mint_user
from services.dev.stack import Stack, dev_secrets
from shared.events import Topics
from tests.faults.load import RATE, Load, assert_every_case_once, settled, write_figures
from tests.support.cases import complaint
from tests.support.postgres import create_database, drop_database
from tests.support.tap import TopicTap

pytestmark = pytest.mark.stack

SURGE = 10  # times the steady rate
SURGE_SECONDS = 60
RETRIED_REFUSALS = 300  # retried after the surge: each must become one case
GROUPS = ("intake-svc", "routing-svc", "sla-svc", "notify-svc")


def retry_until_accepted(url: str, token: str, bodies: list[dict[str, Any]]) -> tuple[set[str], Counter[int]]:
    """The channel's retries after the surge: each body again until answered 2xx."""
    ids: set[str] = set()
    statuses: Counter[int] = Counter()

    def send(chunk: list[dict[str, Any]]) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            for body in chunk:
                while (answer := http.post("/v1/cases", json=body)).status_code not in (200, 201):
                    statuses[answer.status_code] += 1
                    time.sleep(float(answer.headers.get("Retry-After", "1")))
                statuses[answer.status_code] += 1
                ids.add(answer.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, [bodies[i::8] for i in range(8)]))
    return ids, statuses


def test_a_surge_at_ten_times_the_load_is_shed_and_drained_with_nothing_lost(tmp_path: Path) -> None:
    db_name, url = create_database()
    stack = Stack(var_dir=tmp_path, database_url=url, env=dict(FAST_ENV))
    dead_letter_topics = [Topics.dead_letter(g) for g in GROUPS]
    extra_rate = RATE * (SURGE - 1)
    bodies = [complaint(source_ref=f"surge-{uuid.uuid4()}") for _ in range(extra_rate * SURGE_SECONDS)]
    try:
        stack.start()
        tap = TopicTap(stack.bootstrap or "", [Topics.case_created, *dead_letter_topics]).start()
        token = mint_user(dev_secrets(tmp_path)["DEV_ISSUER_KEY"], "agent-ho")
        surge = OpenLoop(tmp_path, stack.ports["intake-svc"], {"Authorization": f"Bearer {token}"}, bodies=bodies)
        load = Load(stack.url("intake-svc"), token).start()
        time.sleep(5)
        figures_of_surge, answers = surge.run_each(extra_rate, SURGE_SECONDS, "surge")
        time.sleep(5)
        load.finish()
        answered = Counter(answers)
        # The channel's retries: every request whose fate it does not know (a dropped
        # connection, no answer), and a sample of those refused. A refusal stored nothing
        # (the counts below show it: no case beyond those the clients were told of).
        unknown = [body for body, status in zip(bodies, answers, strict=True) if status <= 0]
        refused = [body for body, status in zip(bodies, answers, strict=True) if status == 503]
        retried_ids, retried = retry_until_accepted(
            stack.url("intake-svc"), token, unknown + refused[:RETRIED_REFUSALS]
        )
        finished = time.monotonic()
        surge_ids = {line.split()[0] for line in (tmp_path / "surge.ids").read_text().splitlines()} | retried_ids
        accepted = set(load.accepted) | surge_ids
        counts, created, drained_s = settled(url, tap, accepted, finished, seconds=240)
        figures: dict[str, Any] = {
            "scenario": f"{SURGE} times the steady load ({RATE}/s) for {SURGE_SECONDS} s, open loop, then retries",
            "steady_load": load.figures(),
            "surge": {
                "rate_per_second_on_top": extra_rate,
                "answers": {str(k): v for k, v in sorted(answered.items())},
                "latency_ms_from_due": figures_of_surge["latency_ms"],
                "answered_per_second": figures_of_surge["answered_per_second"][: SURGE_SECONDS + 1],
                "accepted_per_second": round(sum(n for s, n in answered.items() if 200 <= s < 300) / SURGE_SECONDS, 1),
            },
            "retried_after_the_surge": {
                "unknown": len(unknown),
                "refused": min(len(refused), RETRIED_REFUSALS),
                "answers": dict(retried),
            },
            "seconds_to_drain_after_the_retries": round(drained_s, 1),
            "counts": counts,
            "dead_lettered": len(tap.matching(lambda s: s.topic in dead_letter_topics)),
        }
        write_figures("surge", figures)
        tap.stop()

        assert set(answered) <= {201, 503, -1, 0}, answered  # created, shed, or lost on the way: never 500
        assert not [s for s in load.statuses if s not in (200, 201, 503)], load.statuses  # 503s with Retry-After
        # Every request answered 2xx, or retried, is one case; nothing else was stored.
        assert len(surge_ids) == len(bodies) - len(refused) + min(len(refused), RETRIED_REFUSALS)
        assert_every_case_once(counts, created, accepted)
        assert figures["dead_lettered"] == 0
    finally:
        stack.stop()
        drop_database(db_name)
