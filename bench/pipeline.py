"""What the system bench reads from outside while the load runs.

- ``PipelineCounter``: every second, how many cases intake has accepted, routing
  has assigned and sla has clocked, counted in each service's own table (the bench
  is the only reader that crosses schemas, and only to count);
- ``CpuMeter``: CPU time of every process from ``/proc/<pid>/stat``, Postgres's split
  by service (``application_name``), and the database sessions opened;
- ``bus_latency_ms``: from each request's due moment to its ``case.transferred``
  on the bus (the record's broker timestamp), read back after the run;
- ``publish_rounds``: how many events each service's relay published and in how
  many rounds (one ``published_at`` per round, decision 0019);
- ``gc_pauses``: each service's full garbage collections and the longest pause;
- ``system_on_postgres``: the system a benchmark measures, on a fresh database, with
  ``--env`` settings (``add_env_option``, ``env_of``);
- ``save``: a benchmark's figures in ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from bench.loadgen import OpenLoop
from services.dev.stack import Stack
from services.registry import SERVICES, load_spec
from shared.events import Topics
from tests.support.postgres import create_database, drop_database

HZ = os.sysconf("SC_CLK_TCK")
RESULTS = Path(__file__).parent / "results"


def add_env_option(parser: argparse.ArgumentParser) -> None:
    """``--env NAME=value`` (repeatable): a setting for every service, to compare settings."""
    parser.add_argument("--env", action="append", default=[], help="NAME=value for every service (to compare settings)")


def env_of(pairs: list[str]) -> dict[str, str]:
    """The ``--env`` values as the services' environment."""
    return dict(pair.split("=", 1) for pair in pairs)


def save(kind: str, figures: Mapping[str, Any]) -> Path:
    """``bench/results/<kind>-<UTC time>.json``, and a line saying where."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{kind}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(figures, indent=1, ensure_ascii=False, default=str) + "\n")
    print(f"written to {out}")
    return out


@contextmanager
def system_on_postgres(
    prefix: str,
    env: dict[str, str] | None = None,
    *,
    only: tuple[str, ...] = SERVICES,
    console: bool = False,
    processes_of: dict[str, int] | None = None,
) -> Iterator[tuple[Stack, str]]:
    """The services (``only``), with the local broker, on a fresh Postgres database,
    started under a new temporary directory named ``prefix...`` (``stack.var_dir``'s
    parent: room for the benchmark's own files); yields the stack and the database's
    URL, and stops both, dropping the database, however the benchmark ends."""
    db_name, url = create_database()
    work = Path(tempfile.mkdtemp(prefix=prefix))
    stack = Stack(
        var_dir=work / "var",
        database_url=url,
        env={"ENVIRONMENT": "test", **(env or {})},
        processes_of=processes_of or {},
    )
    try:
        stack.start(only=only, console=console)
        yield stack, url
    finally:
        stack.stop()
        drop_database(db_name)


@dataclass(frozen=True)
class Counts:
    at: float  # time.monotonic()
    accepted: int
    assigned: int
    clocked: int


class PipelineCounter:
    QUERY = (
        "SELECT (SELECT count(*) FROM intake.cases), (SELECT count(*) FROM routing.assignments),"
        " (SELECT count(*) FROM sla.cases)"
    )

    def __init__(self, url: str) -> None:
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        self.samples: list[Counts] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> PipelineCounter:
        self._thread.start()
        while not self.samples:
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            while not self._stop.is_set():
                row = await conn.fetchrow(self.QUERY)
                self.samples.append(Counts(time.monotonic(), *map(int, row)))  # type: ignore[arg-type]
                await asyncio.sleep(1)
        finally:
            await conn.close()

    def latest(self) -> Counts:
        return self.samples[-1]

    def since(self, started: float) -> list[Counts]:
        return [s for s in self.samples if s.at >= started]

    def wait_drained(self, timeout: float) -> float | None:
        """The moment every accepted case was assigned and clocked; None if not within ``timeout``."""
        deadline = time.monotonic() + timeout
        seen = len(self.samples)
        while time.monotonic() < deadline:
            if len(self.samples) > seen:
                seen = len(self.samples)
                last = self.samples[-1]
                if last.assigned >= last.accepted and last.clocked >= last.accepted:
                    return last.at
            time.sleep(0.2)
        return None


def process_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


#: In a reading of ``CpuMeter.ticks``: the database's sessions so far (not ticks).
SESSIONS = "db_sessions"


@dataclass
class CpuMeter:
    """CPU ticks of each service process, the broker and Postgres; Postgres's also split
    by whose backend it is (``postgres:intake-svc``..., the ``application_name`` each
    service's connections carry; ``postgres:other`` is the server's own processes and
    other clients), and the database sessions opened meanwhile (``sessions_opened``:
    each new connection costs Postgres a process). A backend that closed during the
    run is missing from the split (its CPU since the earlier reading is lost), not from
    ``postgres``."""

    pids: dict[str, int]
    dsn: str | None = None

    @classmethod
    def of(cls, stack: Stack) -> CpuMeter:
        pids = {name: proc.pid for name, proc in stack.processes.items()}
        if stack.broker and stack.broker.process:
            pids["broker"] = stack.broker.process.pid
        url = stack.database_url
        return cls(pids, url.replace("postgresql+asyncpg://", "postgresql://") if url else None)

    def ticks(self) -> dict[str, int]:
        """A reading: ticks by process name and ``postgres``; with a database, also each
        backend's as ``postgres:<owner>@<pid>``, and the sessions so far (``SESSIONS``)."""
        out = subprocess.run(["pgrep", "-f", "postgres"], capture_output=True, text=True).stdout
        ticks = {name: process_ticks(pid) for name, pid in self.pids.items()}
        backends = {int(p): process_ticks(int(p)) for p in out.split()}
        ticks["postgres"] = sum(backends.values())
        if self.dsn:
            owners, ticks[SESSIONS] = asyncio.run(backend_owners(self.dsn))
            ticks.update({f"postgres:{owners.get(pid) or 'other'}@{pid}": used for pid, used in backends.items()})
        return ticks

    def report(self, before: dict[str, int], cases: int, seconds: float) -> dict[str, Any]:
        """What was used since the reading ``before``."""
        after = self.ticks()
        sessions = after.pop(SESSIONS, None)
        used: dict[str, float] = {}
        for key, value in after.items():
            name = key.split("@")[0]  # a backend's ticks count under its owner
            used[name] = used.get(name, 0) + (value - before.get(key, 0)) / HZ
        figures: dict[str, Any] = {
            "percent_of_a_core": {name: round(100 * s / seconds, 2) for name, s in used.items()},
        }
        if sessions is not None:
            figures["sessions_opened"] = sessions - before[SESSIONS] - 1  # less this reading's own
        if cases:
            figures["ms_per_case"] = {name: round(1000 * s / cases, 2) for name, s in used.items()}
            figures["ms_per_case_total"] = round(
                sum(v for name, v in figures["ms_per_case"].items() if not name.startswith("postgres:")), 2
            )
        return figures


async def backend_owners(dsn: str) -> tuple[dict[int, str], int]:
    """Each Postgres backend's ``application_name`` by process id, and how many sessions
    the database has had (``pg_stat_database.sessions``)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT pid, application_name FROM pg_stat_activity")
        sessions = await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
    finally:
        await conn.close()
    return {int(r["pid"]): str(r["application_name"]) for r in rows if r["application_name"]}, int(sessions)


def publish_rounds(dsn: str, since: datetime) -> dict[str, dict[str, float]]:
    """Per service, the events staged since ``since`` that its relay has published, and
    in how many publish rounds (a round marks its rows with one ``published_at``)."""

    async def read() -> dict[str, dict[str, float]]:
        conn = await asyncpg.connect(dsn)
        out: dict[str, dict[str, float]] = {}
        try:
            for name in SERVICES:
                schema = load_spec(name).schema
                row = await conn.fetchrow(
                    f"SELECT count(*) AS events, count(DISTINCT published_at) AS rounds FROM {schema}.outbox"
                    " WHERE created_at >= $1 AND published_at IS NOT NULL",
                    since,
                )
                events, rounds = int(row["events"]), int(row["rounds"])
                out[name] = {"events": events, "rounds": rounds, "per_round": round(events / max(rounds, 1), 2)}
        finally:
            await conn.close()
        return out

    return asyncio.run(read())


def analyze(dsn: str) -> None:
    """``ANALYZE`` the whole database, as autovacuum does in a running deployment.

    Why the benchmark does it after its warm-up (``bench.system_bench``): a service
    prepares each statement once per connection, and after five executions Postgres may
    keep a generic plan for it. Chosen while the tables were empty, such a plan can be a
    scan that grows with the table: in a fresh database a complaint's repeat probe walked
    every case of the last 30 days (0.6-1 ms a probe and rising, a third of intake's
    Postgres time at 300/s), and the consumers' ``IN`` lookups were sequential scans.
    The plans are replaced when the tables are first analyzed, which autovacuum does
    within a minute or two of the first rows (``autovacuum_naptime``), so a running
    system does not have them; the benchmark measures that system, not autovacuum's
    first visit to a new database (docs/decisions/0024)."""

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    asyncio.run(run())


#: The warm-up's rate: well inside what the system keeps up with.
WARMUP_RATE = 200.0


def warm_up(gen: OpenLoop, counter: PipelineCounter, seconds: float) -> None:
    """``seconds`` of new cases at ``WARMUP_RATE``, drained, then ``analyze``: what is
    measured next has a history and statistics, as a running deployment has."""
    gen.run(WARMUP_RATE, seconds, "warm-up")
    counter.wait_drained(timeout=240)
    analyze(counter.dsn)


def bus_latency_ms(bootstrap: str, ids_file: Path) -> dict[str, Any]:
    """p50/p99 from each case's due moment to its first ``case.transferred`` (broker timestamp)."""
    due = {}
    for line in ids_file.read_text().splitlines():
        case_id, micros = line.split()
        due[case_id.encode()] = int(micros) / 1000

    async def read() -> dict[bytes, float]:
        consumer = AIOKafkaConsumer(
            Topics.case_transferred, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        first: dict[bytes, float] = {}
        idle = 0
        try:
            while idle < 3 and len(first) < len(due):
                batches = await consumer.getmany(timeout_ms=1000)
                idle = 0 if batches else idle + 1
                for records in batches.values():
                    for r in records:
                        if r.key in due and r.key not in first:
                            first[r.key] = r.timestamp
        finally:
            await consumer.stop()
        return first

    seen = asyncio.run(read())
    lat = sorted(seen[k] - due[k] for k in seen)
    if not lat:
        return {"seen": 0}
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * (len(lat) - 1)))], 1)  # noqa: E731
    return {"seen": len(lat), "of": len(due), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99)}


def _scraped(stack: Stack, name: str, family_name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One service process's samples of one metric family, by sample name and labels,
    from its ``/metrics`` (one process of each: further ones share its port)."""
    text = httpx.get(f"{stack.url(name)}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        if family.name == family_name
        for s in family.samples
    }


def gc_pauses(stack: Stack) -> dict[str, dict[str, float]]:
    """Per service process, its full garbage collections so far and the longest one's
    pause in ms (``services.collector``)."""
    full = (("generation", "2"),)
    out: dict[str, dict[str, float]] = {}
    for name in SERVICES:
        runs = _scraped(stack, name, "gc_collections")
        longest = _scraped(stack, name, "gc_pause_max_seconds")
        out[name] = {
            "full_collections": runs.get(("gc_collections_total", full), 0.0),
            "longest_ms": round(longest.get(("gc_pause_max_seconds", full), 0.0) * 1000, 2),
        }
    return out


#: The stalls counted per stage: wake-ups later than each of these (``services.loop_lag``).
STALL_BOUNDS = ("0.025", "0.05", "0.1")


def loop_lags(stack: Stack) -> dict[str, dict[str, float]]:
    """Per service process, its event loop's wake-ups so far, how many came later than
    each of ``STALL_BOUNDS`` and their summed lateness (``services.loop_lag``)."""
    out: dict[str, dict[str, float]] = {}
    for name in SERVICES:
        found = _scraped(stack, name, "event_loop_lag_seconds")
        wakeups = found.get(("event_loop_lag_seconds_count", ()), 0.0)
        out[name] = {"wakeups": wakeups, "lag_s": found.get(("event_loop_lag_seconds_sum", ()), 0.0)}
        for bound in STALL_BOUNDS:
            on_time = found.get(("event_loop_lag_seconds_bucket", (("le", bound),)), 0.0)
            out[name][f"over_{float(bound) * 1000:g}ms"] = wakeups - on_time
    return out


def stalls_between(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """What ``loop_lags`` counted between two readings."""
    return {
        name: {k: round(v - before.get(name, {}).get(k, 0.0), 3) for k, v in figures.items()}
        for name, figures in after.items()
    }


def group_commits(stack: Stack) -> tuple[float, float]:
    """intake's group commits so far and the final writes in them (``services.group_commit``)."""
    commits = _scraped(stack, "intake-svc", "db_group_commits")
    writes = _scraped(stack, "intake-svc", "db_group_commit_writes")
    return commits.get(("db_group_commits_total", ()), 0.0), writes.get(("db_group_commit_writes_total", ()), 0.0)


def groups_between(before: tuple[float, float], after: tuple[float, float], accepted: int) -> dict[str, float]:
    """What ``group_commits`` counted between two readings: the groups, the writes in
    them, their mean size, and the share of accepted cases that were written in one."""
    groups, writes = after[0] - before[0], after[1] - before[1]
    return {
        "groups": groups,
        "writes": writes,
        "per_group": round(writes / groups, 2) if groups else 0.0,
        "share_of_cases": round(writes / accepted, 3) if accepted else 0.0,
    }
