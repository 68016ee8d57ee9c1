"""Where each service's CPU goes under load: the whole system on Postgres with the
local broker (as ``bench.system_bench`` runs it), new cases at a constant rate from
the open-loop generator, and ``py-spy`` sampling every service process meanwhile.

    python -m bench.stack_profile --rate 150 --seconds 30

Prints, for each service, the functions that hold the most samples (by own time
and by time including what they call, our code and the libraries' alike), and
writes each raw profile to ``bench/results/profile-<service>-*.txt`` (py-spy's
collapsed stacks: one line per stack with its sample count, for flame graphs or
``grep``). Profiles are for finding where time goes; figures for before/after
comparisons come from ``bench.system_bench`` and ``bench.intake_cost``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.intake_bench import signed_in
from bench.loadgen import OpenLoop
from bench.pipeline import RESULTS, add_env_option, env_of, system_on_postgres

PY_SPY = Path(sys.executable).with_name("py-spy")


def top(collapsed: Path, count: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """The frames with the most samples on top of the stack (own time) and anywhere in
    it (inclusive time), from py-spy's collapsed output; and the samples in all."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        samples = int(n)
        total += samples
        frames = stack.split(";")
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    return own.most_common(count), inclusive.most_common(count), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=150)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--services", default="intake-svc,routing-svc,sla-svc,notify-svc")
    parser.add_argument("--top", type=int, default=25)
    add_env_option(parser)
    args = parser.parse_args()
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    with system_on_postgres("bench-profile-", env_of(args.env)) as (stack, _):
        gen = OpenLoop(stack.var_dir.parent, stack.ports["intake-svc"], signed_in(stack))
        time.sleep(10)  # start-up settles
        spies = {}
        for name in args.services.split(","):
            out = RESULTS / f"profile-{name}-{stamp}.txt"
            pid = str(stack.processes[name].pid)
            command = [str(PY_SPY), "record", "-r", "100", "-f", "raw", "-o", str(out), "-p", pid]
            command += ["-d", str(int(args.seconds) + 2), "--nonblocking"]
            spies[name] = (subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
        time.sleep(1)
        figures, _ = gen.run(args.rate, args.seconds, "profile")
        print(
            f"{args.rate:g}/s for {args.seconds:g} s:", figures["statuses"], "p99", figures["latency_ms"]["p99"], "ms"
        )
        for name, (spy, out) in spies.items():
            spy.wait(60)
            own, inclusive, total = top(out, args.top)
            print(f"\n== {name}: {total} samples ({out.name})")
            print("-- own time")
            for frame, n in own:
                print(f"{100 * n / total:5.1f}%  {frame}")
            print("-- including callees")
            for frame, n in inclusive:
                print(f"{100 * n / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
