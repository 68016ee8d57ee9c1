"""The whole system under load, measured as issue 14 asks (``make bench``).

Starts every service on Postgres (a fresh database) with the local broker, on this
machine's cores, with the load generator beside them, then:

0. **warm-up** (``--warmup``, 15 s at 200/s), then ``ANALYZE``: the measured system has
   a history and statistics, as a running deployment has (``bench.pipeline.analyze``);
1. **at rest**: each process's share of a core over 20 s, nothing arriving;
2. **open loop** at each ``--rates`` (default 100, 200, 500 cases/s) for
   ``--seconds``: new cases arrive at a constant rate whatever the answers do
   (``bench/openloop.c``), latency counted from each request's due moment, so
   queueing shows; consumer lag (cases accepted but not yet assigned by routing, or
   without clocks in sla) sampled every second until the pipeline has drained;
   POST to ``case.transferred`` on the bus; CPU ms per case for every process;
   events per publish round of each service's relay; each service's event loop
   stalls (wake-ups more than 25, 50, 100 ms late, ``services.loop_lag``);
3. **sustained maximum**: the highest of those rates the system kept up with
   (every request answered 2xx, p99 under 1 s, drained within 5 s of the load's
   end), refined by bisection towards the first rate it did not;
4. **burst**: 1,500 cases/s for 10 s while the consumers run, then the time until
   every case is assigned and clocked (nothing lost: the counts must meet);
5. **ceiling**: wrk's closed-loop maximum on intake and on ``bench.bare`` (FastAPI +
   asyncpg, validate and insert with one outbox row) in the same run, and the ratio.

Writes ``bench/results/system-*.json``.

    python -m bench.system_bench --seconds 60          # the issue's 60 s runs
    python -m bench.system_bench --processes intake-svc=2   # intake on two processes, one port
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.intake_bench import signed_in
from bench.loadgen import OpenLoop, case_bodies, ensure_wrk, wrk_max
from bench.pipeline import (
    WARMUP_RATE,
    CpuMeter,
    PipelineCounter,
    add_env_option,
    bus_latency_ms,
    env_of,
    gc_pauses,
    group_commits,
    groups_between,
    loop_lags,
    publish_rounds,
    save,
    stalls_between,
    system_on_postgres,
    warm_up,
)
from services.dev.broker import free_port
from services.dev.stack import Stack


def stage(
    stack: Stack, gen: OpenLoop, counter: PipelineCounter, cpu: CpuMeter, rate: float, seconds: float
) -> dict[str, Any]:
    name = f"open-{rate:g}"
    lags, groups = loop_lags(stack), group_commits(stack)
    before, started, since = cpu.ticks(), time.monotonic(), datetime.now(UTC)
    base = counter.latest()
    figures, ids = gen.run(rate, seconds, name)
    load_end = time.monotonic()
    drained = counter.wait_drained(timeout=240)
    accepted = counter.latest().accepted - base.accepted
    series = [
        [round(s.at - started, 1), s.accepted - s.assigned, s.accepted - s.clocked] for s in counter.since(started)
    ]
    ok = sum(n for code, n in figures["statuses"].items() if code.startswith("2"))
    result = {
        "rate": rate,
        "seconds": seconds,
        "accepted": accepted,
        "answered_2xx": ok,
        "intake_latency_ms": figures["latency_ms"],
        "statuses": figures["statuses"],
        "unanswered": figures["unanswered"] + figures["connection_errors"],
        "drained_seconds_after_load": round(drained - load_end, 1) if drained else None,
        "lag_over_time": {"columns": ["s", "not_assigned", "no_clocks"], "rows": series},
        "max_lag": max((max(r[1], r[2]) for r in series), default=0),
        "cpu": cpu.report(before, accepted, time.monotonic() - started),
        "publish_rounds": publish_rounds(counter.dsn, since),
        "event_loop_stalls": stalls_between(lags, loop_lags(stack)),
        "intake_group_commits": groups_between(groups, group_commits(stack), accepted),
        "ids": ids,
        "accepted_per_second": figures["accepted_per_second"],
    }
    result["kept_up"] = bool(
        ok == figures["scheduled"]
        and figures["latency_ms"]["p99"] < 1000
        and drained is not None
        and drained - load_end <= 5
    )
    return result


def summary(run: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in run.items() if k not in ("lag_over_time", "ids")})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rates", default="100,200,500")
    parser.add_argument("--bisect", type=int, default=2, help="extra runs refining the sustained maximum")
    parser.add_argument(
        "--warmup",
        type=float,
        default=15,
        help=f"seconds of {WARMUP_RATE:g}/s before measuring, then ANALYZE (0: none)",
    )
    add_env_option(parser)
    parser.add_argument(
        "--processes", action="append", default=[], help="SERVICE=N: N processes of it on its one port (REUSE_PORT)"
    )
    args = parser.parse_args()
    ensure_wrk()
    env = env_of(args.env)
    # Event loop stalls sampled (services.loop_lag; off by default): 20 wake-ups a second
    # per service, which the at-rest figure below then includes (0.17-0.20% of a core).
    env.setdefault("LOOP_LAG_PERIOD_SECONDS", "0.05")
    processes = {name: int(n) for name, n in (kv.split("=", 1) for kv in args.processes)}
    bare = None
    counter = None
    with system_on_postgres("bench-system-", env, processes_of=processes) as (stack, url):
        work = stack.var_dir.parent
        try:
            headers = signed_in(stack)
            gen = OpenLoop(work, stack.ports["intake-svc"], headers)
            counter = PipelineCounter(url).start()
            cpu = CpuMeter.of(stack)
            time.sleep(10)  # start-up work (migrations, seeding, first relays) settles
            if args.warmup:
                warm_up(gen, counter, args.warmup)
            before = cpu.ticks()
            time.sleep(20)
            at_rest = cpu.report(before, 0, 20)["percent_of_a_core"]
            print("at rest, % of a core:", at_rest, flush=True)

            runs: list[dict[str, Any]] = []
            for rate in [float(r) for r in args.rates.split(",")]:
                runs.append(stage(stack, gen, counter, cpu, rate, args.seconds))
                print(f"{rate:g}/s:", summary(runs[-1]), flush=True)
            passed = [r["rate"] for r in runs if r["kept_up"]]
            failed = [r["rate"] for r in runs if not r["kept_up"] and r["rate"] > max(passed, default=0)]
            low, high = max(passed, default=0.0), min(failed, default=0.0)
            for _ in range(args.bisect if high else 0):
                mid = round((low + high) / 2, -1) or (low + high) / 2
                if mid in (low, high):
                    break
                runs.append(stage(stack, gen, counter, cpu, mid, args.seconds))
                print(f"{mid:g}/s:", summary(runs[-1]), flush=True)
                low, high = (mid, high) if runs[-1]["kept_up"] else (low, mid)
            by_rate = {r["rate"]: r for r in runs}
            two_hundred = by_rate.get(200.0)
            if two_hundred:
                two_hundred["post_to_case_transferred_ms"] = bus_latency_ms(stack.bootstrap or "", two_hundred["ids"])

            burst = stage(stack, gen, counter, cpu, 1500, 10)
            # Accepted (2xx, not a 503 refusal) within the burst's own 10 s, not in the drain after it.
            burst["accepted_per_second_during_burst"] = round(sum(burst.pop("accepted_per_second")[:10]) / 10, 1)
            counts = counter.latest()
            burst["nothing_lost"] = counts.accepted == counts.assigned == counts.clocked

            bare_port = free_port()
            dsn = url.replace("postgresql+asyncpg://", "postgresql://")
            bare = subprocess.Popen([sys.executable, "-m", "bench.bare", "--port", str(bare_port), "--dsn", dsn])
            time.sleep(3)
            body = case_bodies(1)[0]
            ceiling = {
                "intake": wrk_max(f"{stack.url('intake-svc')}/v1/cases", body, headers, work),
                "bare_fastapi_asyncpg": wrk_max(f"http://127.0.0.1:{bare_port}/v1/cases", body, {}, work),
            }
            ceiling["intake_share_of_bare"] = round(
                ceiling["intake"]["per_second"] / max(ceiling["bare_fastapi_asyncpg"]["per_second"], 1), 3
            )
            figures = {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"cores": os.cpu_count()},
                "setup": "4 services on Postgres 15 + local broker; generator on the same cores",
                "warmup": {"rate": WARMUP_RATE, "seconds": args.warmup, "then": "ANALYZE"} if args.warmup else None,
                "processes": {name: processes.get(name, 1) for name in stack.ports if "#" not in name},
                "at_rest_percent_of_a_core": at_rest,
                "open_loop": [{k: v for k, v in r.items() if k not in ("ids", "accepted_per_second")} for r in runs],
                "sustained_max_cases_per_second": max((r["rate"] for r in runs if r["kept_up"]), default=0),
                "burst": {k: v for k, v in burst.items() if k != "ids"},
                "ceiling": ceiling,
                "gc_full_collections": gc_pauses(stack),
            }
            for run in figures["open_loop"]:
                print(f"{run['rate']:g}/s kept up: {run['kept_up']}, p99 {run['intake_latency_ms']['p99']} ms")
            print("burst:", summary(burst))
            print(json.dumps({k: v for k, v in figures.items() if k not in ("open_loop", "burst")}, indent=2))
            save("system", figures)
        finally:
            if bare:
                bare.terminate()
                bare.wait(10)
            if counter:
                counter.stop()


if __name__ == "__main__":
    main()
