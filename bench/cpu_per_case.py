"""CPU per accepted case, per process: where the cores go (issue 14).

Starts the whole system on Postgres (a fresh database) and the local broker, drives
``POST /v1/cases`` with wrk (Debian's ``wrk``, a C load generator, so the load does
not compete as a Python client would) for ``--seconds`` at ``--connections``, waits
until routing has assigned every case, and reads each process's CPU time from
``/proc/<pid>/stat`` before and after: milliseconds of CPU per case for intake,
routing, sla, notify, the broker and Postgres. Writes ``bench/results/cpu-*.json``.

    python -m bench.cpu_per_case --seconds 20 --connections 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.intake_bench import RESULTS, signed_in
from services.devstack import Stack
from tests.support.cases import inquiry
from tests.support.postgres import create_database, drop_database

HZ = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def postgres_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wrk_script(path: Path, token: str) -> None:
    body = json.dumps(inquiry(), ensure_ascii=False)
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [[{body}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "{token}"\n'
    )


def count_assigned(url: str) -> int:
    """Cases routing has taken, counted in its own table from outside."""

    async def _count() -> int:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM routing.assignments"))
        finally:
            await conn.close()

    return asyncio.run(_count())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)

    db_name, url = create_database()
    var_dir = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    stack = Stack(var_dir=var_dir, database_url=url, env={"ENVIRONMENT": "test"})
    try:
        stack.start()
        headers = signed_in(stack)
        script = var_dir / "post.lua"
        wrk_script(script, headers["Authorization"])
        pids = {name: proc.pid for name, proc in stack.processes.items()}
        if stack.broker and stack.broker.process:
            pids["broker"] = stack.broker.process.pid
        before = {name: cpu_ticks(pid) for name, pid in pids.items()}
        pg_before = sum(cpu_ticks(p) for p in postgres_pids())
        started = time.monotonic()
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{args.connections}",
                f"-d{args.seconds:.0f}s",
                "--latency",
                "-s",
                str(script),
                f"{stack.url('intake-svc')}/v1/cases",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        loaded = time.monotonic() - started
        accepted = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
        accepted -= non2xx
        # Until the pipeline has caught up, so every case's whole cost is counted.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and count_assigned(url) < accepted:
            time.sleep(1)
        settled = time.monotonic() - started
        time.sleep(3)  # the last timers, deliveries and relays
        after = {name: cpu_ticks(pid) for name, pid in pids.items()}
        pg_after = sum(cpu_ticks(p) for p in postgres_pids())
        per_case = {name: round(1000 * (after[name] - before[name]) / HZ / max(accepted, 1), 2) for name in pids}
        per_case["postgres"] = round(1000 * (pg_after - pg_before) / HZ / max(accepted, 1), 2)
        figures = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cores": os.cpu_count()},
            "load": f"wrk, {args.connections} connections, {args.seconds:.0f} s, one inquiry body",
            "accepted": accepted,
            "errors": non2xx,
            "cases_per_second": round(accepted / loaded, 1),
            "seconds_until_all_assigned": round(settled, 1),
            "wrk_latency": {p: v for p, v in re.findall(r"\s(50|90|99)%\s+(\S+)", out)},
            "cpu_ms_per_case": per_case,
            "cpu_ms_per_case_total": round(sum(per_case.values()), 2),
        }
        print(json.dumps(figures, indent=2))
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"cpu-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json").write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        stack.stop()
        drop_database(db_name)


if __name__ == "__main__":
    main()
