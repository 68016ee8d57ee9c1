"""The console's pages at scale, in a real headless Chromium: the board with 10,000
open cases (every one late), and a case page with 200 timeline entries.

Starts the whole system on Postgres with the console, posts the cases through intake
(32 clients), waits until sla has their clocks, then times each page from navigation
to its ``load`` event, five times each, and writes ``bench/results/console-*.json``.

    python -m bench.console_bench                 # --cases 10000 --notes 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from bench.intake_bench import signed_in
from bench.loadgen import case_bodies
from bench.pipeline import save, system_on_postgres
from services.dev.issuer import mint_user
from services.dev.stack import CONSOLE, dev_secrets


async def post_cases(url: str, headers: dict[str, str], bodies: list[dict[str, Any]]) -> list[str]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                answer = await client.post("/v1/cases", json=queue.get_nowait())
                answer.raise_for_status()
                ids.append(answer.json()["id"])

        await asyncio.gather(*(worker() for _ in range(32)))
    return ids


def wait_for_clocks(sla_url: str, headers: dict[str, str], at_least: int, seconds: float = 600) -> int:
    deadline = time.monotonic() + seconds
    seen = 0
    while time.monotonic() < deadline:
        answer = httpx.get(f"{sla_url}/v1/overdue", params={"limit": 1000}, headers=headers, timeout=30)
        answer.raise_for_status()
        seen = len(answer.json())
        if seen >= at_least:
            return seen
        time.sleep(2)
    return seen


def timed(page: Any, url: str, runs: int = 5) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = page.goto(url, wait_until="load")
        times.append((time.perf_counter() - started) * 1000)
        if answer is None or answer.status != 200:
            raise RuntimeError(f"{url} answered {answer.status if answer else None}: {page.inner_text('main')[:300]}")
    return {"p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--notes", type=int, default=200)
    args = parser.parse_args()
    with system_on_postgres("bench-console-", console=True) as (stack, _):
        headers = signed_in(stack)
        bodies = [{**b, "received_at": "2026-01-05T09:00:00+08:00"} for b in case_bodies(args.cases)]  # all late
        started = time.perf_counter()
        ids = asyncio.run(post_cases(stack.url("intake-svc"), headers, bodies))
        posted_s = time.perf_counter() - started
        key = dev_secrets(stack.var_dir)["DEV_ISSUER_KEY"]
        reader = {"Authorization": f"Bearer {mint_user(key, 'coordinator-ho')}"}  # reads the due lists
        overdue = wait_for_clocks(stack.url("sla-svc"), reader, min(1000, args.cases))
        with httpx.Client(base_url=stack.url("intake-svc"), headers=headers, timeout=30) as intake:
            for i in range(args.notes):
                intake.post(
                    f"/v1/cases/{ids[0]}/notes", json={"author": "bench", "text": f"备注 {i}"}
                ).raise_for_status()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(base_url=stack.url(CONSOLE))
            page.goto("/signin")
            page.locator("button[data-user='coordinator-ho']").click()
            page.wait_for_url("**/")
            board = timed(page, "/")
            rows = page.locator("#board tbody tr").count()
            case_page = timed(page, f"/cases/{ids[0]}")
            entries = page.locator("ol.timeline li").count()
            browser.close()
        figures = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cores": os.cpu_count()},
            "setup": "4 services + console on Postgres 15 + local broker; Chromium on the same cores",
            "open_cases": len(ids),
            "posted_in_seconds": round(posted_s, 1),
            "overdue_clocks_seen": overdue,
            "board": {**board, "rows_shown": rows},
            "case_page": {**case_page, "timeline_entries": entries},
        }
        print(json.dumps(figures, indent=2))
        save("console", figures)


if __name__ == "__main__":
    main()
