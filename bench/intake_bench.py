"""Intake throughput and latency, and time from POST to ``case.transferred`` on the bus.

Starts the whole system on Postgres (a fresh database) and the local broker, then
posts new cases from ``--concurrency`` clients for ``--seconds``. Prints the figures
and writes them to ``bench/results/``. The load generator and the tap share this
machine with the services, so the figures are a floor, not a ceiling.

    make bench            # or: python -m bench.intake_bench --seconds 20 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import time
import uuid
from datetime import UTC, datetime

import httpx

from bench.pipeline import save, system_on_postgres
from services.dev.issuer import mint_user
from services.dev.stack import Stack, dev_secrets
from shared.events import Topics
from tests.support.cases import complaint, inquiry
from tests.support.tap import TopicTap


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def signed_in(stack: Stack) -> dict[str, str]:
    """A hotline agent's token from the stack's development issuer."""
    return {"Authorization": f"Bearer {mint_user(dev_secrets(stack.var_dir)['DEV_ISSUER_KEY'], 'agent-ho')}"}


async def load(
    base_url: str, seconds: float, concurrency: int, headers: dict[str, str]
) -> tuple[list[float], dict[str, float], int]:
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits, headers=headers) as client:

        async def worker(n: int) -> None:
            nonlocal errors
            i = 0
            while time.monotonic() < deadline:
                i += 1
                body = complaint() if i % 3 == 0 else inquiry(source_ref=f"CALL-{n}-{i}-{uuid.uuid4().hex[:6]}")
                # Many customers, as a hotline sees them (each with a phone and an ID number of their own).
                body["customer"] = {
                    **body["customer"],
                    "phone": f"139{random.randrange(10**8):08d}",
                    "id_number": f"{random.randrange(10**17):017d}X",
                }
                started = time.monotonic()
                response = await client.post("/v1/cases", json=body)
                if response.status_code != 201:
                    errors += 1
                    continue
                latencies.append(time.monotonic() - started)
                sent_at[response.json()["id"]] = started

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return latencies, sent_at, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    tap = None
    with system_on_postgres("bench-intake-") as (stack, _):
        try:
            tap = TopicTap(stack.bootstrap or "", [Topics.case_created, Topics.case_transferred]).start()
            print(
                f"system up on Postgres + local broker; loading for {args.seconds:.0f}s at concurrency {args.concurrency} ..."
            )
            started = time.monotonic()
            latencies, sent_at, errors = asyncio.run(
                load(stack.url("intake-svc"), args.seconds, args.concurrency, signed_in(stack))
            )
            elapsed = time.monotonic() - started
            # Wait for routing to assign every accepted case.
            wanted = {k.encode() for k in sent_at}
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                assigned = {
                    s.key: s.at for s in tap.matching(lambda s: s.topic == Topics.case_transferred and s.key in wanted)
                }
                if len(assigned) >= len(wanted):
                    break
                time.sleep(0.5)
            announced = {
                s.key: s.at for s in tap.matching(lambda s: s.topic == Topics.case_created and s.key in wanted)
            }
            to_bus = [assigned[k.encode()] - t for k, t in sent_at.items() if k.encode() in assigned]
            to_created = [announced[k.encode()] - t for k, t in sent_at.items() if k.encode() in announced]
            figures = {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cores": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "setup": "4 services x 1 uvicorn process, Postgres 15, local Kafka-protocol broker, load generator on the same machine",
                "concurrency": args.concurrency,
                "seconds": round(elapsed, 1),
                "accepted": len(latencies),
                "errors": errors,
                "cases_per_second": round(len(latencies) / elapsed, 1),
                "intake_latency_ms": {
                    "p50": round(percentile(latencies, 50) * 1000, 1),
                    "p99": round(percentile(latencies, 99) * 1000, 1),
                },
                "post_to_case_created_ms": {
                    "p50": round(percentile(to_created, 50) * 1000, 1),
                    "p99": round(percentile(to_created, 99) * 1000, 1),
                },
                "post_to_case_transferred_ms": {
                    "p50": round(percentile(to_bus, 50) * 1000, 1),
                    "p99": round(percentile(to_bus, 99) * 1000, 1),
                    "seen": len(to_bus),
                    "mean": round(statistics.fmean(to_bus) * 1000, 1) if to_bus else None,
                },
            }
            print(json.dumps(figures, indent=2, ensure_ascii=False))
            save("intake", figures)
        finally:
            if tap:
                tap.stop()


if __name__ == "__main__":
    main()
