"""Each process's share of a core while nothing happens (issue 14: under 0.5% per
service), on Postgres with the local broker, as ``make run`` would be at night.

    python -m bench.at_rest --seconds 60 --settle 40
    python -m bench.at_rest --warmup 15     # after 15 s of cases: with data, analyzed

Start-up work (migrations, seeding, first relays and announcements) is left to
settle first; then the CPU each process used over ``--seconds`` is read from
``/proc/<pid>/stat``. Figures go to ``bench/results/rest-<time>.json``. For a
before/after pair, run it from a worktree of each commit, interleaved: a 2-core
machine drifts by more than the differences measured here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

from bench.intake_bench import signed_in
from bench.loadgen import OpenLoop
from bench.pipeline import (
    WARMUP_RATE,
    CpuMeter,
    PipelineCounter,
    add_env_option,
    env_of,
    save,
    system_on_postgres,
    warm_up,
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.at_rest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=40)
    parser.add_argument(
        "--warmup",
        type=float,
        default=0,
        help=f"seconds of {WARMUP_RATE:g} cases/s before settling (bench.pipeline.warm_up): at rest with data",
    )
    add_env_option(parser)
    args = parser.parse_args()
    env = env_of(args.env)
    with system_on_postgres("bench-rest-", env) as (stack, url):
        cpu = CpuMeter.of(stack)
        if args.warmup:
            time.sleep(10)  # start-up work settles before the cases arrive
            counter = PipelineCounter(url).start()
            try:
                warm_up(
                    OpenLoop(stack.var_dir.parent, stack.ports["intake-svc"], signed_in(stack)), counter, args.warmup
                )
            finally:
                counter.stop()
        time.sleep(args.settle)
        before = cpu.ticks()
        time.sleep(args.seconds)
        figures = cpu.report(before, 0, args.seconds)["percent_of_a_core"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {
        "commit": commit,
        "seconds": args.seconds,
        "settle": args.settle,
        "warmup_seconds": args.warmup,
        "env": env,
        "percent_of_a_core": figures,
    }
    print(json.dumps(result), flush=True)
    save("rest", result)


if __name__ == "__main__":
    main()
