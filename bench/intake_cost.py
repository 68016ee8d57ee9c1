"""What one accepted case costs intake-svc in CPU, with nothing else running: the
service in this process (``tests.support.inprocess``), on a fresh Postgres database,
called through ASGI by one client, so the figure is intake's own work per request
(FastAPI, validation, the transaction, the answer) without HTTP parsing or queueing.

    python -m bench.intake_cost --cases 3000            # ms of CPU per case, and round trips
    py-spy record -r 200 -f speedscope -o intake.json -- python -m bench.intake_cost

The machine's speed drifts by a quarter from one minute to the next (a shared host),
so each run also times a fixed piece of Python work just before and after it
(``calibrate``: the same case bodies validated and serialised) and reports the
cost in those units too (``relative``): compare that between interleaved runs.

It prints CPU milliseconds per request (process time: this process is the service
and the client), the CPU of intake's Postgres backends per case, and the statements
per case, counted by SQLAlchemy's ``before_cursor_execute`` event (which does not see
what runs on the driver: the new case's own statement since decision 0019, and its
idempotency and repeat probes since decision 0021, so a new case now shows 0); the system
benchmark (``bench.system_bench``) is where throughput and latency are measured.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from services.registry import load_spec
from shared.intake import CaseCreate
from tests.support.inprocess import running
from tests.support.postgres import create_database, drop_database

from .loadgen import case_bodies
from .pipeline import HZ, backend_owners, process_ticks


async def postgres_ticks(url: str) -> dict[int, int]:
    """CPU ticks so far of each Postgres backend serving intake (``application_name``)."""
    owners, _ = await backend_owners(url.replace("postgresql+asyncpg://", "postgresql://"))
    return {pid: process_ticks(pid) for pid, owner in owners.items() if owner == "intake-svc"}


def calibrate(bodies: list[dict[str, Any]], rounds: int = 50) -> float:
    """CPU ms for a fixed workload (validating and serialising 200 case bodies, fifty
    times over): a yardstick for the machine's speed at this moment."""
    sample = bodies[:200]
    cpu = time.process_time()
    for _ in range(rounds):
        for body in sample:
            CaseCreate.model_validate(body).model_dump_json()
    return (time.process_time() - cpu) * 1000


async def measure(url: str, cases: int, warmup: int) -> dict[str, Any]:
    bodies = case_bodies(cases + warmup, seed=int(time.time()))
    with tempfile.TemporaryDirectory() as tmp:
        async with running(load_spec("intake-svc"), Path(tmp), url) as intake:
            statements = 0

            def count(*_: Any) -> None:
                nonlocal statements
                statements += 1

            event.listen(intake.runtime.db.engine.sync_engine, "before_cursor_execute", count)
            for body in bodies[:warmup]:
                assert (await intake.client.post("/v1/cases", json=body)).status_code == 201
            yardstick = calibrate(bodies)
            backends = await postgres_ticks(url)
            statements, cpu, wall = 0, time.process_time(), time.perf_counter()
            for body in bodies[warmup:]:
                answer = await intake.client.post("/v1/cases", json=body)
                assert answer.status_code == 201, answer.text
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            after = await postgres_ticks(url)
            postgres = sum(ticks - backends.get(pid, 0) for pid, ticks in after.items()) / HZ
            yardstick = (yardstick + calibrate(bodies)) / 2
    return {
        "cases": cases,
        "cpu_ms_per_case": round(cpu / cases * 1000, 3),
        "wall_ms_per_case": round(wall / cases * 1000, 3),
        "statements_per_case": round(statements / cases, 2),
        "postgres_cpu_ms_per_case": round(postgres / cases * 1000, 3),
        "yardstick_ms": round(yardstick, 1),
        "relative": round(cpu / cases * 1000 / yardstick * 100, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    name, url = create_database()
    try:
        print(asyncio.run(measure(url, args.cases, args.warmup)))
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
