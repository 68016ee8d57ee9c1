"""Fault scenario: each service SIGKILLed in turn under a steady load, and started again.

The whole system on Postgres and the local broker; clients post cases at a steady rate
and retry, with the same body (and ``source_ref``), one not answered 2xx, as a channel
would; a webhook subscribed to ``case.created`` stands for an integrator. routing, sla,
notify and intake are each killed (``kill -9``: no clean-up) a few seconds apart while
the load runs, and restarted a second later. Intake's kill lands while requests are in
flight, between commits and answers; the consumers' while batches are being applied.
Then, counted from outside:

- no request was answered 500; every accepted case is in intake once, assigned once,
  clocked, and once on ``case.created`` (distinct events);
- the webhook received every accepted case's ``case.created``; a redelivery (the same
  ``X-Event-Id`` twice: delivery is at least once, and the receiver deduplicates on it)
  is counted and reported, not hidden;
- the figures go to ``bench/results/faults-services-killed.json``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from conftest import FAST_ENV
from services.dev.issuer import mint_user
from services.dev.stack import Stack, dev_secrets
from shared.events import Topics
from tests.faults.load import Load, counts_of, events_seen, write_figures
from tests.support.postgres import create_database, drop_database
from tests.support.receiver import WebhookReceiver
from tests.support.tap import TopicTap

pytestmark = pytest.mark.stack

KILLED_IN_TURN = ("routing-svc", "sla-svc", "notify-svc", "intake-svc")
SECRET = "fault-scenario-webhook-secret"


async def _deliveries(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM notify.deliveries GROUP BY status")
        return {r["status"]: r["n"] for r in rows}
    finally:
        await conn.close()


def test_each_service_killed_in_turn_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    db_name, url = create_database()
    stack = Stack(var_dir=tmp_path, database_url=url, env=dict(FAST_ENV))
    receiver = WebhookReceiver(secret=SECRET).start()
    try:
        stack.start()
        tap = TopicTap(stack.bootstrap or "", [Topics.case_created]).start()
        key = dev_secrets(tmp_path)["DEV_ISSUER_KEY"]
        admin = {"Authorization": f"Bearer {mint_user(key, 'admin')}"}
        body = {"channel": "webhook", "target": receiver.url, "events": ["case.created"], "secret": SECRET}
        assert httpx.post(f"{stack.url('notify-svc')}/v1/subscriptions", json=body, headers=admin).status_code == 201
        load = Load(stack.url("intake-svc"), mint_user(key, "agent-ho")).start()
        recovered: dict[str, float] = {}
        time.sleep(3)
        for name in KILLED_IN_TURN:
            stack.kill(name)
            time.sleep(1)
            started = time.monotonic()
            stack.start_service(name)
            stack.wait_ready(name)
            recovered[name] = round(time.monotonic() - started, 1)
            time.sleep(3)
        load.finish()
        finished = time.monotonic()
        accepted = set(load.accepted)
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        counts = asyncio.run(counts_of(dsn, len(accepted)))
        created = events_seen(tap, Topics.case_created, accepted)
        # A delivery the killed notify had claimed waits out its lease (60 s) before
        # another attempt takes it: at least once, later.
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            hooked = Counter(r.headers.get("x-event-id", "") for r in receiver.requests)
            told = {r.json()["case_id"] for r in receiver.requests}
            if told >= accepted:
                break
            time.sleep(0.5)
        drained_s = time.monotonic() - finished
        deliveries = asyncio.run(_deliveries(dsn))
        figures: dict[str, Any] = {
            "scenario": "routing, sla, notify and intake each kill -9'd in turn under a steady load, restarted",
            **load.figures(),
            "seconds_to_ready_after_restart": recovered,
            "seconds_to_drain_after_load": round(drained_s, 1),
            "counts": counts,
            "webhook": {
                "requests": len(receiver.requests),
                "distinct_events": len(hooked),
                "redelivered": sum(n - 1 for n in hooked.values()),
                "deliveries_by_status": deliveries,
            },
        }
        write_figures("services-killed", figures)

        assert 500 not in load.statuses, load.statuses
        assert counts["intake_cases"] == len(accepted) == counts["routing_assignments"] == counts["sla_cases"]
        assert counts["sla_cases_with_clocks"] == len(accepted)
        assert set(created) == accepted and max(created.values()) == 1
        assert told >= accepted and all(r.signature_ok for r in receiver.requests)
        tap.stop()
    finally:
        receiver.stop()
        stack.stop()
        drop_database(db_name)
