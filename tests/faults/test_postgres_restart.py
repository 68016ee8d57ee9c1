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
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST_ENV
from services.dev.issuer import mint_user
from services.dev.stack import Stack, dev_secrets
from shared.events import Topics
from tests.faults.load import Load, counts_of, events_seen, plain_dsn, write_figures
from tests.support.own_postgres import OwnPostgres
from tests.support.tap import TopicTap

pytestmark = pytest.mark.stack


def test_postgres_restarted_under_load_loses_nothing_and_doubles_nothing(
    own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    stack = Stack(var_dir=tmp_path, database_url=own_postgres.url, env=dict(FAST_ENV))
    stack.start()
    groups = ("intake-svc", "routing-svc", "sla-svc", "notify-svc")
    dead_letter_topics = [Topics.dead_letter(g) for g in groups]
    tap = TopicTap(stack.bootstrap or "", [Topics.case_created, Topics.case_transferred, *dead_letter_topics]).start()
    dsn = plain_dsn(own_postgres.url)
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
        counts = asyncio.run(counts_of(dsn, len(accepted)))
        drained_s = time.monotonic() - finished
        created = events_seen(tap, Topics.case_created, accepted)
        transferred = events_seen(tap, Topics.case_transferred, accepted)
        figures: dict[str, Any] = {
            "scenario": "postgres restarted (pg_ctl stop -m fast, 3 s down) under a steady load",
            **load.figures(),
            "database_down_seconds": round(up_at - down_at, 1),
            "seconds_to_first_2xx_after_restart": round(recovered_s, 2),
            "seconds_to_drain_after_load": round(drained_s, 1),
            "counts": counts,
            "dead_lettered": len(tap.matching(lambda s: s.topic in dead_letter_topics)),
        }
        write_figures("postgres-restart", figures)

        assert 500 not in load.statuses, load.statuses
        assert figures["dead_lettered"] == 0  # a database away is waited out, never parked as poison
        assert load.statuses[503] + sum(v for k, v in load.statuses.items() if isinstance(k, str)) > 0  # it was felt
        assert counts["intake_cases"] == len(accepted)  # every case told, once; none more
        assert counts["routing_assignments"] == len(accepted) == counts["sla_cases"]
        assert counts["sla_cases_with_clocks"] == len(accepted)
        assert set(created) == accepted and max(created.values()) == 1  # each event once, distinct
        assert set(transferred) >= accepted
    finally:
        tap.stop()
        stack.stop()
