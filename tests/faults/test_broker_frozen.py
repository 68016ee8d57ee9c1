"""Fault scenario: the broker frozen (SIGSTOP) for 60 s under a steady load, then thawed.

Intake keeps accepting while the bus is away (each case and its event commit together
in its outbox); the consumers stall, then catch up once the broker answers again.
Counted from outside, as the other scenarios: no request answered 500, every accepted
case once in intake, assigned, clocked and once on ``case.created``, nothing
dead-lettered; figures to ``bench/results/faults-broker-frozen.json``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST_ENV
from services.dev.issuer import mint_user
from services.dev.stack import Stack, dev_secrets
from shared.events import Topics
from tests.faults.load import RATE, Load, assert_every_case_once, settled, write_figures
from tests.support.postgres import create_database, drop_database
from tests.support.tap import TopicTap

pytestmark = pytest.mark.stack

FROZEN_SECONDS = 60
GROUPS = ("intake-svc", "routing-svc", "sla-svc", "notify-svc")


def test_the_broker_frozen_for_a_minute_loses_nothing(tmp_path: Path) -> None:
    db_name, url = create_database()
    stack = Stack(var_dir=tmp_path, database_url=url, env=dict(FAST_ENV))
    dead_letter_topics = [Topics.dead_letter(g) for g in GROUPS]
    try:
        stack.start()
        assert stack.broker is not None and stack.broker.process is not None
        tap = TopicTap(stack.bootstrap or "", [Topics.case_created, *dead_letter_topics]).start()
        load = Load(stack.url("intake-svc"), mint_user(dev_secrets(tmp_path)["DEV_ISSUER_KEY"], "agent-ho")).start()
        time.sleep(3)
        os.kill(stack.broker.process.pid, signal.SIGSTOP)
        accepted_at_freeze = len(load.accepted)
        time.sleep(FROZEN_SECONDS)
        accepted_while_frozen = len(load.accepted) - accepted_at_freeze
        os.kill(stack.broker.process.pid, signal.SIGCONT)
        thawed = time.monotonic()
        time.sleep(5)
        load.finish()
        accepted = set(load.accepted)
        counts, created, caught_up_s = settled(url, tap, accepted, thawed)
        figures: dict[str, Any] = {
            "scenario": f"the broker frozen (SIGSTOP) for {FROZEN_SECONDS} s under a steady load",
            **load.figures(),
            "accepted_while_frozen": accepted_while_frozen,
            "seconds_to_catch_up_after_thaw": round(caught_up_s, 1),
            "counts": counts,
            "dead_lettered": len(tap.matching(lambda s: s.topic in dead_letter_topics)),
        }
        write_figures("broker-frozen", figures)
        tap.stop()

        assert 500 not in load.statuses, load.statuses
        assert accepted_while_frozen > FROZEN_SECONDS * RATE // 2  # intake kept accepting
        assert_every_case_once(counts, created, accepted)
        assert figures["dead_lettered"] == 0
    finally:
        if stack.broker is not None and stack.broker.process is not None:
            os.kill(stack.broker.process.pid, signal.SIGCONT)
        stack.stop()
        drop_database(db_name)
