"""Fault scenario: restore a backup taken mid-stream, and the services resume.

The whole system runs under a steady load of late cases (their clocks breach at once,
so timers fire and alerts go out) with a webhook subscribed to ``case.created``. A
``pg_dump`` of the four schemas is taken while the load runs; the load goes on, then
the whole system is lost (processes and the memory-only broker). The dump is restored
into a new database and the system started on it with a new, empty broker. Counted
from outside:

- every case in the restored intake is assigned and clocked again (outboxes publish
  what they kept to the new broker; inboxes drop what they had applied; timers catch
  up);
- the webhook has every restored case's ``case.created``; an alert the dump shows
  delivered is never sent again. One sent after the dump was taken may be sent again
  (the restored notify cannot know of it), with the same ``X-Event-Id``, on which the
  receiver deduplicates: delivery is at least once, and its count is reported;
- figures to ``bench/results/faults-restore.json``.
"""

from __future__ import annotations

import asyncio
import subprocess
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
from tests.faults.load import Load, counts_of, plain_dsn, write_figures
from tests.support.postgres import ADMIN_DSN, create_database, drop_database
from tests.support.receiver import WebhookReceiver

pytestmark = pytest.mark.stack

SECRET = "restore-scenario-webhook-secret"
SCHEMAS = ("intake", "routing", "sla", "notify")


async def _snapshot(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT event_id::text AS e, status FROM notify.deliveries")
        return {
            "cases": await conn.fetchval("SELECT count(*) FROM intake.cases"),
            "delivered": {r["e"] for r in rows if r["status"] == "delivered"},
            "not_delivered": {r["e"] for r in rows if r["status"] != "delivered"},
        }
    finally:
        await conn.close()


def test_a_backup_restored_mid_stream_resumes_and_sends_nothing_twice(tmp_path: Path) -> None:
    first_db, first_url = create_database()
    second_db, second_url = create_database()
    receiver = WebhookReceiver(secret=SECRET).start()
    first = Stack(var_dir=tmp_path / "first", database_url=first_url, env=dict(FAST_ENV))
    second = Stack(var_dir=tmp_path / "second", database_url=second_url, env=dict(FAST_ENV))
    (tmp_path / "second").mkdir()
    try:
        first.start()
        key = dev_secrets(first.var_dir)["DEV_ISSUER_KEY"]
        (tmp_path / "second" / "dev-secrets.env").write_text((first.var_dir / "dev-secrets.env").read_text())
        admin = {"Authorization": f"Bearer {mint_user(key, 'admin')}"}
        body = {"channel": "webhook", "target": receiver.url, "events": ["case.created"], "secret": SECRET}
        assert httpx.post(f"{first.url('notify-svc')}/v1/subscriptions", json=body, headers=admin).status_code == 201
        load = Load(first.url("intake-svc"), mint_user(key, "agent-ho"), days_ago=40).start()
        time.sleep(5)
        dump = tmp_path / "cases.dump"
        schemas = [arg for s in SCHEMAS for arg in ("-n", s)]
        subprocess.run(["pg_dump", "-Fc", *schemas, "-f", str(dump), plain_dsn(first_url)], check=True, timeout=120)
        time.sleep(3)
        load.finish()
        first.stop()  # everything lost: processes and the memory-only broker

        base = ADMIN_DSN.rsplit("/", 1)[0]
        subprocess.run(["pg_restore", "--no-owner", "-d", f"{base}/{second_db}", str(dump)], check=True, timeout=120)
        restored = asyncio.run(_snapshot(plain_dsn(second_url)))
        starting = time.monotonic()
        second.start()
        ready_s = time.monotonic() - starting
        counts = asyncio.run(counts_of(plain_dsn(second_url), restored["cases"]))
        settled_s = time.monotonic() - starting
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            hooked = Counter(r.headers.get("x-event-id", "") for r in receiver.requests)
            told = {r.json()["case_id"] for r in receiver.requests}
            if len(told) >= restored["cases"]:
                break
            time.sleep(0.5)
        twice = {e for e, n in hooked.items() if n > 1}
        figures = {
            "scenario": "pg_dump mid-stream, the system lost, restored into a new database with a new broker",
            "cases_accepted_before_loss": len(load.accepted),
            "cases_in_the_dump": restored["cases"],
            "deliveries_in_the_dump": {"delivered": len(restored["delivered"]), "not": len(restored["not_delivered"])},
            "seconds_to_ready_after_restore": round(ready_s, 1),
            "seconds_to_settle_after_restore": round(settled_s, 1),  # every case assigned and clocked again
            "counts_after_restore": counts,
            "webhook": {"requests": len(receiver.requests), "distinct": len(hooked), "sent_twice": len(twice)},
        }
        write_figures("restore", figures)

        assert counts["intake_cases"] == restored["cases"] == counts["routing_assignments"] == counts["sla_cases"]
        assert counts["sla_cases_with_clocks"] == restored["cases"]
        assert len(told) >= restored["cases"]  # every restored case's case.created reached the webhook
        assert not twice & restored["delivered"]  # nothing the dump shows delivered went again
    finally:
        receiver.stop()
        second.stop()
        first.stop()
        drop_database(first_db)
        drop_database(second_db)
