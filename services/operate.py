"""The operator's command line: is the platform well, where is a case, what was parked.

    python -m services.operate health                 # outbox, consumers, broker, database of each service
    python -m services.operate case <case id or no.>  # one case as every service sees it
    python -m services.operate dead-letters <service> # what that service's consumer parked, and why
    python -m services.operate replay <service>       # put the parked messages back on their topics

``health`` and ``case`` speak to the services' HTTP APIs (``INTAKE_URL``,
``ROUTING_URL``, ``SLA_URL``, ``NOTIFY_URL``; CONTRACT.md's ports on 127.0.0.1 by
default); ``case`` signs in with ``OPS_TOKEN`` (a staff token or an API key with
``case:read``; ``python -m services.dev.issuer token <user>`` under ``make run``).
``dead-letters`` and ``replay`` speak to the broker (``KAFKA_BOOTSTRAP_SERVERS``).

Decisions:

- A replay sends each parked message to the topic it came from, with its key, value
  and own headers (producer and publish sequence, trace), so every consumer group
  sees it again: the one that parked it applies it now that the cause is fixed, the
  others skip it by its event id (their inbox). Replaying twice is therefore
  harmless, and nothing is replayed twice anyway: the replay commits its position on
  the dead-letter topic as group ``<service>.replay``, and ``dead-letters`` lists what
  lies after that position.
- ``--event-id`` replays only the named events and moves no position, so the others
  stay listed; ``--dry-run`` shows what would go.
- The end of a topic is where a read finds nothing for ``--idle`` seconds (2), not the
  broker's end offset, which some Kafka-protocol brokers report wrongly.
- ``health`` exits 0 when every service is ready, its oldest unpublished event is
  younger than a minute, no stream lost events and nothing was dead-lettered since it
  started; 1 when something needs a look (printed); 2 when a service cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from typing import Any

import httpx

from services import dead_letter_replay as parked
from services.registry import SERVICES, load_spec

OLDEST_OK_SECONDS = 60.0


def url(service: str) -> str:
    """``<SERVICE>_URL``, or the service's own port (CONTRACT.md) on this machine."""
    port = load_spec(service).settings_class.model_fields["port"].default
    return os.environ.get(f"{service.removesuffix('-svc').upper()}_URL", f"http://127.0.0.1:{port}").rstrip("/")


# ── health ────────────────────────────────────────────────────────────────────────


def health(timeout: float) -> int:
    worst = 0
    for service in SERVICES:
        try:
            ready = httpx.get(f"{url(service)}/readyz", timeout=timeout).json()
        except (httpx.HTTPError, ValueError) as exc:
            print(f"{service:12} UNREACHABLE  {type(exc).__name__} at {url(service)}")
            worst = 2
            continue
        problems = concerns(ready)
        consumer = ready.get("consumer") or {}
        lag = sum((consumer.get("lag") or {}).values())
        print(
            f"{service:12} {ready.get('status', '?'):9} outbox {ready.get('outbox_backlog', '?'):>6} "
            f"(oldest {ready.get('outbox_oldest_age_seconds', 0):.1f} s)  lag {lag:>6}  "
            f"dead-lettered {consumer.get('dead_lettered', 0)}"
        )
        for problem in problems:
            print(f"{'':12} ! {problem}")
        worst = max(worst, 1 if problems else 0)
    return worst


def concerns(ready: dict[str, Any]) -> list[str]:
    """What in one service's ``/readyz`` needs a look."""
    found = []
    if ready.get("status") != "ready":
        found.append(f"status {ready.get('status')}: database {ready.get('database')}, broker {ready.get('broker')}")
    if ready.get("outbox_oldest_age_seconds", 0) > OLDEST_OK_SECONDS:
        found.append(
            f"the oldest unpublished event waits {ready['outbox_oldest_age_seconds']:.0f} s: is the broker up?"
        )
    consumer = ready.get("consumer") or {}
    if consumer.get("dead_lettered"):
        found.append(
            f"{consumer['dead_lettered']} dead-lettered: python -m services.operate dead-letters {ready['service']}"
        )
    for gap in consumer.get("event_gaps") or []:
        found.append(f"{gap['missing']} events of {gap['producer']} {gap['topic']} lost: python -m services.streams")
    return found


# ── one case ──────────────────────────────────────────────────────────────────────


def case(reference: str, token: str, timeout: float) -> dict[str, Any]:
    """What each service holds on the case: intake's record and history, routing's
    assignment, sla's clocks, notify's deliveries (each service's own API and scope)."""
    headers = {"X-API-Key": token} if token.count(".") == 1 else {"Authorization": f"Bearer {token}"}  # a JWT has two
    with httpx.Client(timeout=timeout, headers=headers) as client:
        case_id = reference
        if not _is_uuid(reference):
            found = client.post(f"{url('intake-svc')}/v1/cases/search", json={"case_no": reference}).json()
            items = found.get("items") or []
            if not items:
                raise SystemExit(f"no case {reference} (or none in your scope)")
            case_id = items[0]["id"]
        asks = {
            "intake-svc": [f"/v1/cases/{case_id}", f"/v1/cases/{case_id}/history"],
            "routing-svc": [f"/v1/cases/{case_id}/assignment"],
            "sla-svc": [f"/v1/cases/{case_id}/sla"],
            "notify-svc": [f"/v1/deliveries?case_id={case_id}"],
        }
        seen: dict[str, Any] = {}
        for service, paths in asks.items():
            for path in paths:
                try:
                    answer = client.get(url(service) + path)
                    seen[f"{service} {path}"] = answer.json() if answer.is_success else _refused(answer)
                except httpx.HTTPError as exc:
                    seen[f"{service} {path}"] = {"unreachable": type(exc).__name__}
    return seen


def _refused(answer: httpx.Response) -> dict[str, Any]:
    try:
        return {"refused": answer.status_code, "detail": answer.json().get("detail")}
    except ValueError:
        return {"refused": answer.status_code}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def show_case(seen: dict[str, Any]) -> None:
    """A line or two per service, the facts an operator looks for first."""
    for asked, answer in seen.items():
        print(f"== {asked}")
        if "refused" in answer or "unreachable" in answer:
            print(f"   {answer}")
        elif asked.endswith("/history"):
            for entry in answer[-8:]:
                print(f"   {entry.get('at', '')[:19]}  {entry.get('source', ''):12} {entry.get('action', '')}")
        elif asked.endswith("/sla"):
            for clock in answer.get("clocks", []):
                late = " LATE" if clock.get("left_seconds", 0) < 0 and clock.get("state") == "running" else ""
                print(f"   {clock.get('clock', ''):22} {clock.get('state', ''):9} due {clock.get('due_at')}{late}")
        elif "deliveries" in asked:
            for d in answer:
                print(
                    f"   {d.get('event_type', ''):16} {d.get('channel', ''):8} {d.get('status', ''):10} {d.get('recipient')}"
                )
        else:
            keys = ("case_no", "status", "kind", "tier", "branch_code", "unit", "assignee", "owner", "received_at")
            print("   " + "  ".join(f"{k}={answer[k]}" for k in keys if answer.get(k) is not None))


# ── the command line ──────────────────────────────────────────────────────────────


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.operate", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("health", help="each service's outbox, consumer, broker and database")
    one = commands.add_parser("case", help="one case as every service sees it")
    one.add_argument("reference", help="the case's id, or its case number")
    one.add_argument("--json", action="store_true", help="every answer in full")
    for name, text in (("dead-letters", "what a service's consumer parked"), ("replay", "put parked messages back")):
        cmd = commands.add_parser(name, help=text)
        cmd.add_argument("service", choices=SERVICES)
        cmd.add_argument("--idle", type=float, default=2.0, help="seconds without a message that end the read")
        if name == "replay":
            cmd.add_argument("--event-id", action="append", default=[], help="only these events (repeatable)")
            cmd.add_argument("--dry-run", action="store_true", help="show what would be replayed")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    args = parser.parse_args(argv)
    if args.command == "health":
        return health(args.timeout)
    if args.command == "case":
        token = os.environ.get("OPS_TOKEN")
        if not token:
            parser.error("case needs OPS_TOKEN: a staff token or an API key with case:read")
        seen = case(args.reference, token, args.timeout)
        print(json.dumps(seen, ensure_ascii=False, indent=2)) if args.json else show_case(seen)
        return 0
    settings = load_spec(args.service).settings_class()
    if args.command == "dead-letters":
        found = asyncio.run(parked.read(settings, args.service, args.idle))
        for message in found:
            print(message.line())
        print(f"{len(found)} parked by {args.service} after the last replay")
        return 0
    outcome = asyncio.run(parked.replay(settings, args.service, args.idle, set(args.event_id), args.dry_run))
    for message in outcome:
        print(("would replay " if args.dry_run else "replayed ") + message.line())
    print(f"{len(outcome)} {'to replay' if args.dry_run else 'replayed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
