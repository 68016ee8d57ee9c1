"""Fault scenario: the broker reached through a TCP proxy that drops the connections.

The network between the services and the broker fails while the broker itself runs
on: a proxy in front of it (the broker tells clients to connect to the proxy) cuts
every open connection five times, two seconds apart, and then drops every connection
for 15 s, under a steady load. Producers lose requests mid-flight (without an
idempotent producer, a batch the broker wrote may be sent again: the same event id
twice on the bus), consumers lose fetches and offset commits.

Counted from outside: no request answered 500; every accepted case once in intake,
assigned and clocked; once on ``case.created`` by distinct event id (a copy of an event
sent again is counted as a figure, and the inboxes apply it once); nothing
dead-lettered. Figures to ``bench/results/faults-broker-connections-dropped.json``.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST_ENV
from services.dev.broker import LocalBroker, free_port
from services.dev.issuer import mint_user
from services.dev.stack import Stack, dev_secrets
from shared.events import Topics
from tests.faults.load import Load, assert_every_case_once, settled, write_figures
from tests.support.postgres import create_database, drop_database
from tests.support.proxy import TcpProxy
from tests.support.tap import TopicTap

pytestmark = pytest.mark.stack

CUTS = 5
BLOCKED_SECONDS = 15
GROUPS = ("intake-svc", "routing-svc", "sla-svc", "notify-svc")


def test_connections_to_the_broker_dropped_lose_nothing(tmp_path: Path) -> None:
    db_name, url = create_database()
    proxy_port = free_port()
    broker = LocalBroker(log_path=tmp_path / "broker.log", advertised_port=proxy_port)
    proxy = TcpProxy(broker.port, proxy_port)
    env = {**FAST_ENV, "KAFKA_ENABLE_IDEMPOTENCE": "false"}
    stack = Stack(var_dir=tmp_path, database_url=url, env=env, bootstrap=broker.bootstrap)
    dead_letter_topics = [Topics.dead_letter(g) for g in GROUPS]
    try:
        broker.start()
        proxy.start()
        stack.start()
        tap = TopicTap(stack.bootstrap or "", [Topics.case_created, *dead_letter_topics]).start()
        load = Load(stack.url("intake-svc"), mint_user(dev_secrets(tmp_path)["DEV_ISSUER_KEY"], "agent-ho")).start()
        time.sleep(3)
        for _ in range(CUTS):
            proxy.cut()
            time.sleep(2)
        proxy.block()
        time.sleep(BLOCKED_SECONDS)
        proxy.unblock()
        restored = time.monotonic()
        time.sleep(5)
        load.finish()
        accepted = set(load.accepted)
        counts, created, caught_up_s = settled(url, tap, accepted, restored)
        copies = Counter(s.json()["event_id"] for s in tap.matching(lambda s: s.topic == Topics.case_created))
        figures: dict[str, Any] = {
            "scenario": (
                f"the broker behind a TCP proxy: every connection cut {CUTS} times 2 s apart, "
                f"then every connection dropped for {BLOCKED_SECONDS} s, under a steady load"
            ),
            **load.figures(),
            "proxy": {"connections": proxy.connections, "dropped": proxy.dropped},
            "seconds_to_catch_up_after_restore": round(caught_up_s, 1),
            "counts": counts,
            "case_created_copies_sent_again": sum(n - 1 for n in copies.values()),
            "dead_lettered": len(tap.matching(lambda s: s.topic in dead_letter_topics)),
        }
        write_figures("broker-connections-dropped", figures)
        tap.stop()

        assert proxy.dropped > CUTS  # the connections were there, and were cut
        assert 500 not in load.statuses, load.statuses
        assert_every_case_once(counts, created, accepted)
        assert figures["dead_lettered"] == 0
    finally:
        proxy.stop()
        stack.stop()
        broker.stop()
        drop_database(db_name)
