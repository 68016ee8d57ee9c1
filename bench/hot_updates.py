"""How many updates of each table stayed on their row's page (heap-only, HOT) while
new cases arrived: the whole system on a fresh Postgres database, the open-loop
generator at a constant rate, then Postgres's own counters (decision 0022).

    python -m bench.hot_updates --rate 150 --seconds 15

An update that is not heap-only adds an entry to every index of its table.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg

from bench.intake_bench import signed_in
from bench.loadgen import OpenLoop
from bench.pipeline import system_on_postgres

QUERY = (
    "SELECT schemaname || '.' || relname AS name, n_tup_upd AS updates, n_tup_hot_upd AS heap_only"
    " FROM pg_stat_user_tables WHERE n_tup_upd >= $1 ORDER BY n_tup_upd DESC"
)


async def counters(dsn: str, at_least: int) -> list[tuple[str, int, int]]:
    """Each table updated at least ``at_least`` times: its name, updates and heap-only ones."""
    conn = await asyncpg.connect(dsn)
    try:
        return [(r["name"], int(r["updates"]), int(r["heap_only"])) for r in await conn.fetch(QUERY, at_least)]
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=150)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    with system_on_postgres("bench-hot-") as (stack, url):
        generator = OpenLoop(stack.var_dir.parent, stack.ports["intake-svc"], signed_in(stack))
        generator.run(args.rate, args.seconds, "hot")
        time.sleep(5)  # the consumers catch up, and the counters are flushed
        rows = asyncio.run(counters(url.replace("postgresql+asyncpg://", "postgresql://"), int(args.rate)))
    for name, updates, heap_only in rows:
        print(f"{name:<28} {updates:>8} updates, {heap_only:>8} heap-only ({100 * heap_only / max(updates, 1):.0f}%)")


if __name__ == "__main__":
    main()
