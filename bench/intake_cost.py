"""What one accepted case costs intake-svc in CPU, with nothing else running: the
service in this process (``tests.support.inprocess``), on a fresh Postgres database,
called through ASGI by one client, so the figure is intake's own work per request
(FastAPI, validation, the transaction, the answer) without HTTP parsing or queueing.

    python -m bench.intake_cost --cases 3000            # ms of CPU per case, and round trips
    py-spy record -r 200 -f speedscope -o intake.json -- python -m bench.intake_cost

It prints CPU milliseconds per request (process time: this process is the service
and the client) and the statements per case, counted by SQLAlchemy's
``before_cursor_execute`` event; the system benchmark (``bench.system_bench``) is
where throughput and latency are measured.
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
from tests.support.inprocess import running
from tests.support.postgres import create_database, drop_database

from .loadgen import case_bodies


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
            statements, cpu, wall = 0, time.process_time(), time.perf_counter()
            for body in bodies[warmup:]:
                answer = await intake.client.post("/v1/cases", json=body)
                assert answer.status_code == 201, answer.text
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "cases": cases,
        "cpu_ms_per_case": round(cpu / cases * 1000, 3),
        "wall_ms_per_case": round(wall / cases * 1000, 3),
        "statements_per_case": round(statements / cases, 2),
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
