"""sla-svc figures: due-date arithmetic speed, and breaches of 1,000,000 open clocks.

1. Due dates: "within 10 working days" for 1,000,000 random starts over two years of
   the official calendar, in bulk (the re-planning path) and one by one.
2. Timers at scale: 1,000,000 open clocks with their timers in Postgres (bulk-loaded
   with COPY); ``--due`` of them fall due during the run, spread over ``--window``
   seconds. sla-svc runs as its own process against the local broker; an independent
   consumer records when each ``case.overdue`` arrives, and the latency from due time
   to arrival is reported (p50/p99), while a client keeps calling the API (its p50/p99).

    make bench      # or: python -m bench.sla_bench --clocks 1000000 --due 20000 --window 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from bench.intake_bench import percentile, signed_in
from bench.pipeline import save, system_on_postgres
from shared.events import Topics
from tests.support.tap import TopicTap


def due_dates() -> dict[str, float]:
    import chinese_calendar

    from services.registry import add_service_paths

    add_service_paths()
    from sla.calendar import compile_calendar

    cal = compile_calendar(
        "CN",
        "Asia/Shanghai",
        [("08:30", "12:00"), ("13:30", "17:30")],
        chinese_calendar.holidays,
        chinese_calendar.workdays,
        range(2004, 2027),
    )
    base = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    rng = random.Random(7)
    starts = [base + rng.randrange(0, 86400 * 700) for _ in range(1_000_000)]
    cal.tables  # noqa: B018 - compile once, outside the timing
    t0 = time.perf_counter()
    bulk = cal.tables.working_days_many(starts, 10)
    bulk_rate = len(starts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    one = [cal.due_epoch(s, "working_days", 10) for s in starts]
    one_rate = len(starts) / (time.perf_counter() - t0)
    assert bulk == one
    t0 = time.perf_counter()
    for s in starts[:300_000]:
        cal.due_epoch(s, "working_hours", 2)
    hours_rate = 300_000 / (time.perf_counter() - t0)
    return {
        "bulk_per_second": round(bulk_rate),
        "one_by_one_per_second": round(one_rate),
        "working_hours_per_second": round(hours_rate),
    }


async def load_clocks(url: str, total: int, due: int, window: float, lead: float) -> float:
    """Bulk-load clocks, plans, parties and timers (all due far ahead), then move ``due`` of
    them into a window opening ``lead`` seconds after loading; returns when it opens."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    now = datetime.now(UTC)
    spec = json.dumps(
        {
            "name": "closure",
            "start": ["created"],
            "stop": ["updated:close"],
            "target": {"unit": "working_days", "amount": 10},
            "warnings": [],
            "escalations": [],
            "restart_on": [],
            "extensions": [],
        }
    )
    clocks, plans, timers, parties = [], [], [], []
    rng = random.Random(11)
    for i in range(1, total + 1):
        case_id = uuid.uuid4()
        due_at = now + timedelta(days=rng.uniform(2, 60))
        clocks.append(
            (
                i,
                case_id,
                "closure",
                "general-complaint",
                "GD-SZ",
                "complaint",
                "general",
                "running",
                now,
                due_at,
                "within 10 working days",
                now,
            )
        )
        plans.append((i, "CN", "working_days", 10.0, spec))
        timers.append((i, i, "breach", "breach", due_at))
        if i <= due:
            parties.append((case_id, "GD-SZ.claims", "u-sz-cl-1", "u-sz-cs-2", now))
    await conn.copy_records_to_table(
        "clocks",
        schema_name="sla",
        records=clocks,
        columns=[
            "id",
            "case_id",
            "clock",
            "policy",
            "branch_code",
            "kind",
            "tier",
            "state",
            "started_at",
            "due_at",
            "rule",
            "created_at",
        ],
    )
    await conn.copy_records_to_table(
        "clock_plans", schema_name="sla", records=plans, columns=["clock_id", "calendar", "unit", "amount", "spec"]
    )
    await conn.copy_records_to_table(
        "timers", schema_name="sla", records=timers, columns=["id", "clock_id", "level", "key", "due_at"]
    )
    await conn.copy_records_to_table(
        "case_parties",
        schema_name="sla",
        records=parties,
        columns=["case_id", "unit", "assignee", "owner", "updated_at"],
    )
    await conn.execute(
        "SELECT setval('sla.clocks_id_seq', $1); SELECT setval('sla.timers_id_seq', $1)".replace("$1", str(total))
    )
    await conn.execute("ANALYZE sla.clocks; ANALYZE sla.timers; ANALYZE sla.case_parties")
    opens = datetime.now(UTC) + timedelta(seconds=lead)
    await conn.execute(
        "UPDATE sla.timers SET due_at = $1::timestamptz + make_interval(secs => random() * $2::float8) WHERE id <= $3",
        opens,
        window,
        due,
    )
    await conn.execute(
        "UPDATE sla.clocks c SET due_at = t.due_at FROM sla.timers t WHERE t.clock_id = c.id AND t.id <= $1", due
    )
    await conn.close()
    return opens.timestamp()


def api_load(base: str, stop: threading.Event, latencies: list[float], headers: dict[str, str]) -> None:
    with httpx.Client(base_url=base, timeout=10, headers=headers) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            client.get("/v1/overdue", params={"limit": 20, "branch_code": "GD"})
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.05)


def timers_at_scale(total: int, due: int, window: float) -> dict[str, object]:
    tap = None
    with system_on_postgres("bench-sla-", only=("sla-svc",)) as (stack, url):
        try:
            # A reader that asks often (10 ms fetch wait): what it sees is when the record
            # was on the bus, not how long the local broker held an idle fetch (``TopicTap``).
            tap = TopicTap(stack.bootstrap or "", [Topics.case_overdue], fetch_max_wait_ms=10).start()
            t0 = time.perf_counter()
            lead = 10.0  # seconds between the end of loading and the first due timer
            opens = asyncio.run(load_clocks(url, total, due, window, lead))
            loaded_in = time.perf_counter() - t0
            print(
                f"loaded {total} clocks in {loaded_in:.1f}s; {due} fall due over {window:.0f}s from now+{opens - time.time():.0f}s"
            )
            stop, api = threading.Event(), []
            worker = threading.Thread(
                target=api_load, args=(stack.url("sla-svc"), stop, api, signed_in(stack)), daemon=True
            )
            worker.start()
            deadline = opens + window + 60
            while time.time() < deadline and len(tap.seen) < due:
                time.sleep(0.5)
            stop.set()
            worker.join(15)
            # The tap stamps arrival with a monotonic clock; convert to wall time.
            offset = time.time() - time.monotonic()
            lag, sent = [], []
            for seen in tap.seen:
                due_at = datetime.fromisoformat(seen.json()["payload"]["due_at"]).timestamp()
                lag.append(seen.at + offset - due_at)
                sent.append(seen.timestamp_ms / 1000 - due_at)
            return {
                "open_clocks": total,
                "due_in_window": due,
                "window_seconds": window,
                "load_seconds": round(loaded_in, 1),
                "breaches_seen": len(lag),
                # Until a reader holds it (the tap, fetching with a 10 ms wait).
                "due_to_bus_ms": {
                    "p50": round(percentile(lag, 50) * 1000),
                    "p99": round(percentile(lag, 99) * 1000),
                    "max": round(max(lag) * 1000) if lag else None,
                },
                # Until sla's relay handed it to the broker (the record's CreateTime).
                "due_to_sent_ms": {
                    "p50": round(percentile(sent, 50) * 1000),
                    "p99": round(percentile(sent, 99) * 1000),
                    "max": round(max(sent) * 1000) if sent else None,
                },
                "api_overdue_ms": {
                    "p50": round(percentile(api, 50) * 1000, 1),
                    "p99": round(percentile(api, 99) * 1000, 1),
                    "calls": len(api),
                },
            }
        finally:
            if tap:
                tap.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clocks", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=20_000)
    parser.add_argument("--window", type=float, default=60)
    args = parser.parse_args()
    figures: dict[str, object] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count()},
        "due_dates": due_dates(),
    }
    print(json.dumps(figures, indent=2))
    figures["timers"] = timers_at_scale(args.clocks, args.due, args.window)
    print(json.dumps(figures, indent=2, ensure_ascii=False))
    save("sla", figures)


if __name__ == "__main__":
    main()
