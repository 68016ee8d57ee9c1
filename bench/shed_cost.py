"""What a refusal at the in-flight limit costs (decision 0018): the whole system on
Postgres with the local broker, every service limited to ``--in-flight`` requests at
once (``MAX_IN_FLIGHT``, strict: no grace), and wrk posting new cases to intake at 32 connections, so
that nearly every request is refused. Prints intake's CPU per answer and how many
cases it still accepted meanwhile.

    python -m bench.shed_cost --in-flight 1 --runs 2
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import time

from bench.intake_bench import signed_in
from bench.loadgen import case_bodies, ensure_wrk
from bench.pipeline import HZ, CpuMeter, system_on_postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    ensure_wrk()
    limits = {"MAX_IN_FLIGHT": str(args.in_flight), "SHED_GRACE_SECONDS": "0"}  # a strict bound: every refusal
    with system_on_postgres("bench-shed-", limits) as (stack, _):
        work = stack.var_dir.parent
        headers = {"Content-Type": "application/json", **signed_in(stack)}
        cpu = CpuMeter.of(stack)
        time.sleep(8)  # start-up settles
        script = work / "wrk.lua"
        lines = ['wrk.method = "POST"', f"wrk.body = [[{json.dumps(case_bodies(1)[0], ensure_ascii=False)}]]"]
        script.write_text("\n".join(lines + [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]) + "\n")
        for _ in range(args.runs):
            before = cpu.ticks()
            command = [
                "wrk",
                "-t1",
                "-c32",
                f"-d{args.seconds}s",
                "-s",
                str(script),
                f"{stack.url('intake-svc')}/v1/cases",
            ]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            used = (cpu.ticks()["intake-svc"] - before["intake-svc"]) / HZ
            answers = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
            refused = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
            print(
                f"{answers} answers, {refused} refused, {answers - refused} cases accepted in {args.seconds} s;"
                f" intake {used:.2f} s of CPU, {used / answers * 1e6:.0f} µs per answer",
                flush=True,
            )


if __name__ == "__main__":
    main()
