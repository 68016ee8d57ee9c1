"""Instructions per new case in intake-svc's own code path, counted by valgrind: a
figure that does not drift with the machine, for before/after comparisons of changes
too small for the clock.

    python -m bench.instructions                 # 300 cases, one figure (~35 s)
    python -m bench.instructions --runs 3        # three runs, to see the spread
    python -m bench.instructions --keep cg.out   # and callgrind_annotate cg.out
    python -m bench.instructions --service sla-svc --transfers before   # a consumer's batches

Why: on this machine kind the CPU time of one and the same run varies by a quarter
from one minute to the next (a shared host), so ``bench.intake_cost`` cannot tell a 3%
change from noise, and interleaved system runs need many pairs for 10%. Callgrind
counts the instructions executed instead; two runs of 200 cases agreed within 0.2%.

How: this module re-runs itself under ``valgrind --tool=callgrind`` with
instrumentation off; the service starts (in this process, on a fresh Postgres
database, as ``bench.intake_cost`` runs it), takes a warm-up, and only then is
instrumentation switched on (``callgrind_control -i on``) for the measured cases and
off after them. Each case is one ``POST /v1/cases`` handed to the service's ASGI app
directly (no HTTP client, no HTTP parsing: those would be the same on both sides of a
comparison and only dilute it), with the body and headers a client sends.

What it does not count: the kernel's side of system calls (a round trip saved shows
in ``bench.intake_cost``'s Postgres figure and in ``bench.system_bench``, not here),
Postgres's own work, and waiting. An instruction is not a fixed time either (cache
misses differ), so a change worth keeping is confirmed by the system benchmark.
Needs Debian's ``valgrind`` (``make bench`` installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord

from services.consumer import ConsumerRunner
from services.registry import load_spec
from shared.events import CaseCreated, CaseTransferred, Envelope, new_event
from tests.support.inprocess import auth_headers, running
from tests.support.postgres import create_database, drop_database

from .loadgen import case_bodies
from .pipeline import save

WARMUP = 50


def toggle(on: bool) -> None:
    """Callgrind's instrumentation for this process, on or off."""
    if os.environ.get("BENCH_UNDER_CALLGRIND"):
        subprocess.run(
            ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True, capture_output=True
        )


async def post(app: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """One request through the ASGI app, as a server would hand it over; its status."""
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/cases",
        "raw_path": b"/v1/cases",
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8001),
    }
    await app(scope, receive, send)
    return status


async def posts(app: Any, cases: int, headers: list[tuple[bytes, bytes]]) -> None:
    """A warm-up, then ``cases`` new cases counted (the load generator's bodies), each
    ``POST /v1/cases`` handed to ``app``."""
    bodies = [json.dumps(b, ensure_ascii=False).encode() for b in case_bodies(cases + WARMUP, seed=7)]
    headers = [*headers, (b"content-type", b"application/json")]
    for body in bodies[:WARMUP]:
        assert await post(app, body, headers) == 201
    toggle(True)
    for body in bodies[WARMUP:]:
        assert await post(app, body, headers) == 201
    toggle(False)


async def count(url: str, cases: int) -> None:
    """The measured part (under callgrind): the service, a warm-up, then ``cases``."""
    headers = [(b"host", b"127.0.0.1:8001")]
    headers += [(k.lower().encode(), v.encode()) for k, v in auth_headers().items()]
    with tempfile.TemporaryDirectory() as tmp:
        async with running(load_spec("intake-svc"), Path(tmp), url) as intake:
            await posts(intake.app, cases, headers)


async def count_bare(url: str, cases: int) -> None:
    """The same for ``bench.bare``'s endpoint, the floor intake is compared with: what
    FastAPI, pydantic and asyncpg cost for a case with nothing of intake's own."""
    from .bare import build

    app = build(url.replace("postgresql+asyncpg://", "postgresql://"))
    async with app.router.lifespan_context(app):
        await posts(app, cases, [(b"host", b"127.0.0.1:8900")])


#: What each consumer is given to do: its background rounds stay out of the count
#: (as in ``tests/test_batch_equivalence.py``), only the batches act.
QUIET: dict[str, dict[str, Any]] = {
    "sla-svc": {"timer_worker": False, "owner_grace_seconds": 0},
    "routing-svc": {"queue_drain_seconds": 3600},
    "notify-svc": {"delivery_worker": False, "gap_watch_seconds": 3600},
}
BATCH = 20


def created_records(count: int) -> list[ConsumerRecord[bytes, bytes]]:
    """``case.created`` of the load generator's case bodies, as intake would publish them."""
    records = []
    for seq, body in enumerate(case_bodies(count, seed=7), start=1):
        payload = CaseCreated(
            case_no=f"GD-SZ-{seq:06d}",
            status="accepted",
            received_at=datetime.now(UTC),
            tier="general",
            category=body.get("category"),
            **{k: body[k] for k in ("kind", "channel", "branch_code", "line_of_business")},
        )
        envelope = new_event(payload, case_id=uuid.uuid4(), producer="intake-svc")
        value, key = envelope.model_dump_json().encode(), str(envelope.case_id).encode()
        headers = [("producer", b"intake-svc"), ("producer-seq", str(seq).encode())]
        records.append(ConsumerRecord(envelope.type, 0, seq, 0, 0, key, value, None, len(key), len(value), headers))
    return records


def transferred_records(created: list[ConsumerRecord[bytes, bytes]]) -> list[ConsumerRecord[bytes, bytes]]:
    """A ``case.transferred`` for each of ``created``'s cases, as routing publishes an
    assignment: to a unit and someone in it, so that the clocks started on ``assigned``
    start and the hand-over clock stops."""
    records = []
    for seq, record in enumerate(created, start=1):
        case = Envelope.model_validate_json(record.value or b"")
        payload = CaseTransferred(
            transfer_kind="assign",
            branch_code=str(case.payload["branch_code"]),
            from_unit=None,
            to_unit="GD-SZ.claims",
            from_assignee=None,
            to_assignee="u-sz-cl-1",
            owner="u-sz-cs-2",
            reason="bench",
        )
        envelope = new_event(payload, case_id=case.case_id, producer="routing-svc")
        value, key = envelope.model_dump_json().encode(), str(envelope.case_id).encode()
        headers = [("producer", b"routing-svc"), ("producer-seq", str(seq).encode())]
        records.append(ConsumerRecord(envelope.type, 0, seq, 0, 0, key, value, None, len(key), len(value), headers))
    return records


async def consume(url: str, service: str, events: int, transfers: str = "none") -> None:
    """The measured part for a consumer: ``case.created`` in polled batches of ``BATCH``,
    through the consumer runner's own path (decode, inbox, batch handler, commit).
    ``transfers``: each batch's cases also transferred, in a poll ``after`` it (the usual
    order) or ``before`` it (a transfer that overtook its case, as under lag: the case
    is then replayed event by event when it arrives)."""
    records = created_records(events + WARMUP)
    moves = transferred_records(records) if transfers != "none" else []

    def polls(starts: range) -> list[list[ConsumerRecord[bytes, bytes]]]:
        found = []
        for start in starts:
            created, moved = records[start : start + BATCH], moves[start : start + BATCH]
            found += [created] if not moved else [created, moved] if transfers == "after" else [moved, created]
        return found

    with tempfile.TemporaryDirectory() as tmp:
        async with running(load_spec(service), Path(tmp), url, **QUIET[service]) as consumer:
            runtime = consumer.runtime
            if service == "notify-svc":  # someone to tell of every new case
                body = {"channel": "webhook", "target": "https://hooks.example.com/all", "events": ["case.created"]}
                assert (await consumer.client.post("/v1/subscriptions", json=body)).status_code == 201
            runner = ConsumerRunner(
                runtime.name, runtime.db, runtime.tables, None, None, runtime.spec.subscriptions, runtime.status,
                context=runtime, max_attempts=1, retry_base=0.0,
            )  # fmt: skip
            for poll in polls(range(0, WARMUP, BATCH)):
                await runner.process(poll)
            toggle(True)
            for poll in polls(range(WARMUP, len(records), BATCH)):
                await runner.process(poll)
            toggle(False)
            assert runner.dead_lettered == 0


def measure(cases: int, keep: Path | None = None, service: str = "intake-svc", transfers: str = "none") -> int:
    """Instructions per case, from one run of this module under callgrind; ``keep``:
    where to copy callgrind's output (for ``callgrind_annotate``: which library, which
    C function)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("bench.instructions needs valgrind (Debian package 'valgrind'; make bench installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.instructions",
                "--inside",
                "--cases",
                str(cases),
                "--service",
                service,
                "--transfers",
                transfers,
            ],
            env={**os.environ, "BENCH_UNDER_CALLGRIND": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if keep is not None and out.exists():
            shutil.copy(out, keep)
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise SystemExit(f"the run under valgrind failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", "")) // cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--service",
        default="intake-svc",
        choices=["intake-svc", "bare", *QUIET],
        help="a consumer: its case.created batches; bare: bench.bare's endpoint, the floor",
    )
    parser.add_argument(
        "--transfers",
        default="none",
        choices=["none", "after", "before"],
        help="sla-svc: each batch's cases also transferred, after their creation or before it (replayed)",
    )
    parser.add_argument("--keep", type=Path, help="copy callgrind's output here (last run)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        name, url = create_database()
        try:
            if args.service == "intake-svc":
                asyncio.run(count(url, args.cases))
            elif args.service == "bare":
                asyncio.run(count_bare(url, args.cases))
            else:
                asyncio.run(consume(url, args.service, args.cases, args.transfers))
        finally:
            drop_database(name)
        return
    if args.transfers != "none" and args.service != "sla-svc":
        parser.error("--transfers is for sla-svc, which consumes case.transferred with case.created")
    figures = [measure(args.cases, args.keep, args.service, args.transfers) for _ in range(args.runs)]
    what = (
        f"POST /v1/cases through {args.service}'s ASGI app"
        if args.service in ("intake-svc", "bare")
        else f"case.created through {args.service}'s consumer runner in batches of {BATCH}"
        + ("" if args.transfers == "none" else f", each batch's case.transferred {args.transfers} it")
    )
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "what": f"{what}, warm, instructions counted by callgrind",
        "service": args.service,
        "transfers": args.transfers,
        "cases": args.cases,
        "instructions_per_case": figures,
    }
    print(json.dumps(result))
    save("instructions", result)


if __name__ == "__main__":
    main()
