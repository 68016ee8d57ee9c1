"""A case from intake to an ops alert, across the four services as real processes,
over the real broker, on Postgres and on the embedded SQLite default; traces on, as
one trace per case from the request to the delivery."""

from __future__ import annotations

import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from conftest import System, start_system, stop_system
from shared.events import PAYLOADS, Topics
from tests.support.cases import complaint
from tests.support.otlp import CollectedSpan, TraceCollector
from tests.support.receiver import WebhookReceiver
from tests.support.wait import eventually

pytestmark = pytest.mark.stack

RAW_PERSONAL = ("13812345678", "110101199003071234")


@pytest.fixture(scope="module")
def collector() -> Iterator[TraceCollector]:
    """Where the services export their spans (traces on, by the standard OTEL_* variables)."""
    collector = TraceCollector().start()
    yield collector
    collector.stop()


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, collector: TraceCollector
) -> Iterator[System]:
    var_dir = tmp_path_factory.mktemp(f"pipeline-{request.param}")
    system, db_name = start_system(var_dir, request.param, env=collector.env)
    yield system
    stop_system(system, db_name)


def check_envelope(envelope: dict, type_: str, case_id: str, producer: str) -> None:
    assert set(envelope) == {
        "event_id",
        "type",
        "schema_version",
        "occurred_at",
        "case_id",
        "producer",
        "correlation_id",
        "payload",
    }
    uuid.UUID(envelope["event_id"])
    assert envelope["type"] == type_
    assert envelope["schema_version"] == 1
    assert datetime.fromisoformat(envelope["occurred_at"]).utcoffset() is not None
    assert envelope["case_id"] == case_id
    assert envelope["producer"] == producer
    assert isinstance(envelope["payload"], dict)


def test_complaint_received_long_ago_reaches_ops_alert(system: System) -> None:
    secret = "s3cret-for-this-receiver-only"
    receiver = WebhookReceiver(secret=secret).start()
    try:
        with system.client("notify-svc") as notify:
            sub = notify.post(
                "/v1/subscriptions",
                json={"channel": "webhook", "target": receiver.url, "events": ["case.overdue"], "secret": secret},
            )
            assert sub.status_code == 201, sub.text
            assert sub.json()["secret"] is None  # we chose it; it is never echoed

        body = complaint(days_ago=30)
        headers = {"Idempotency-Key": f"idem-{uuid.uuid4()}", "X-Correlation-Id": "corr-pipeline-1"}
        with system.client("intake-svc") as intake:
            created = intake.post("/v1/cases", json=body, headers=headers)
            assert created.status_code == 201, created.text
            case = created.json()
            case_id = case["id"]
            assert case["customer"]["phone"] == "138****5678"

            # The same request again: the same case, 200, never a second one.
            again = intake.post("/v1/cases", json=body, headers=headers)
            assert (again.status_code, again.json()["id"]) == (200, case_id)
            same_ref = intake.post("/v1/cases", json=body, headers={"Idempotency-Key": f"other-{uuid.uuid4()}"})
            assert (same_ref.status_code, same_ref.json()["id"]) == (200, case_id)
            listed = intake.get("/v1/cases", params={"branch_code": "GD-SZ", "kind": "complaint"}).json()
            assert [c["id"] for c in listed["items"]].count(case_id) == 1

        key = case_id.encode()
        for topic in (Topics.case_created, Topics.case_transferred, Topics.case_overdue):
            system.tap.wait_for(lambda s, t=topic: s.topic == t and s.key == key, timeout=30)

        [created_event] = system.tap.events(Topics.case_created, case_id)
        check_envelope(created_event, "case.created", case_id, "intake-svc")
        assert created_event["correlation_id"] == "corr-pipeline-1"
        assert created_event["payload"]["case_no"] == case["case_no"]
        assert created_event["payload"]["kind"] == "complaint"

        [transferred] = system.tap.events(Topics.case_transferred, case_id)
        check_envelope(transferred, "case.transferred", case_id, "routing-svc")
        assert transferred["correlation_id"] == "corr-pipeline-1"  # carried through the consumer
        assert transferred["payload"]["transfer_kind"] == "assign"
        assert transferred["payload"]["to_unit"] == "GD-SZ.claims"
        # An unaddressed letter: the branch's designated receiver owns it, the claims post works it.
        assert (transferred["payload"]["owner"], transferred["payload"]["to_assignee"]) == ("u-sz-cs-2", "u-sz-cl-1")

        system.tap.wait_for(
            lambda s: (
                s.topic == Topics.case_overdue
                and s.key == key
                and b'"clock":"closure"' in (s.value or b"")
                and b'"level":"breach"' in (s.value or b"")
            )
        )
        alerts = system.tap.events(Topics.case_overdue, case_id)
        [overdue] = [e for e in alerts if (e["payload"]["clock"], e["payload"]["level"]) == ("closure", "breach")]
        check_envelope(overdue, "case.overdue", case_id, "sla-svc")
        assert {e["payload"]["clock"] for e in alerts} <= {"closure", "regulatory"}  # the stages still open
        assert overdue["payload"]["late_by_seconds"] > 10 * 86400
        assert overdue["payload"]["fired_late"] is True
        assert (overdue["payload"]["owner"], overdue["payload"]["assignee"]) == ("u-sz-cs-2", "u-sz-cl-1")

        # No raw personal data on the bus.
        for seen in system.tap.matching(lambda s: s.key == key):
            for raw in RAW_PERSONAL:
                assert raw.encode() not in (seen.value or b"")

        # The ops alert: a signed webhook whose signature the receiver verifies.
        [hit] = eventually(
            lambda: [r for r in receiver.requests if r.headers.get("x-event-id") == overdue["event_id"]],
            what="signed webhook",
        )
        assert hit.signature_ok
        assert hit.headers["content-type"] == "application/json"
        assert json.loads(hit.body) == overdue

        with system.client("intake-svc") as intake:
            # The case's history: intake's own acceptance, then the other services' events.

            def full_history() -> list[dict] | None:
                entries = intake.get(f"/v1/cases/{case_id}/history").json()
                return entries if "overdue:breach" in [e["action"] for e in entries] else None

            entries = eventually(full_history, what="history with the transfer and the breach")
            assert [(e["action"], e["source"]) for e in entries[:2]] == [
                ("accept", "intake-svc"),
                ("assign", "routing-svc"),
            ]
            assert ("overdue:breach", "sla-svc") in [(e["action"], e["source"]) for e in entries]
        with system.client("routing-svc") as routing:
            assignment = routing.get(f"/v1/cases/{case_id}/assignment").json()
            assert (assignment["unit"], assignment["assignee"], assignment["owner"]) == (
                "GD-SZ.claims",
                "u-sz-cl-1",
                "u-sz-cs-2",
            )
            assert [h["kind"] for h in assignment["history"]] == ["assign"]
        with system.client("sla-svc") as sla:
            clocks = {c["clock"]: c for c in sla.get(f"/v1/cases/{case_id}/sla").json()["clocks"]}
            assert clocks["closure"]["state"] == clocks["regulatory"]["state"] == "breached"
            assert clocks["handover"]["state"] == "breached" and clocks["handover"]["stopped_at"]  # handed over, late
            assert {"initial-investigation", "initial-opinion"} <= set(clocks)  # started by the assignment
            overdue_now = sla.get("/v1/overdue", params={"branch_code": "GD"}).json()
            assert {o["clock"] for o in overdue_now if o["case_id"] == case_id} == {"closure", "regulatory"}
        with system.client("notify-svc") as notify:

            def all_delivered() -> list | None:
                params = {"case_id": case_id, "subscription_id": sub.json()["id"]}
                rows = notify.get("/v1/deliveries", params=params).json()
                done = len(rows) == len(system.tap.events(Topics.case_overdue, case_id)) and all(
                    d["status"] == "delivered" for d in rows
                )
                return rows if done else None

            deliveries = eventually(all_delivered, what="every alert delivered")
            assert {len(d["attempts"]) for d in deliveries} == {1}

            # The default chain, with people resolved from routing-svc's organisation over
            # HTTP: the breach goes to the assignee and the owner (by e-mail, which this
            # system has no SMTP server for, so the deliveries say so instead of retrying).
            def chain() -> set[str] | None:
                rows = notify.get("/v1/deliveries", params={"case_id": case_id, "event_type": "sla.breach"}).json()
                done = [d for d in rows if d["status"] == "skipped"]
                return {d["recipient"] for d in done} if len(done) == len(rows) >= 2 else None

            assert eventually(chain, what="breach told to assignee and owner") == {"staff:u-sz-cl-1", "staff:u-sz-cs-2"}
    finally:
        receiver.stop()


def test_closing_a_case_in_intake_frees_capacity_in_routing(system: System) -> None:
    with system.client("intake-svc") as intake, system.client("routing-svc") as routing:
        case_id = intake.post("/v1/cases", json=complaint(category="service_attitude", channel="visit")).json()["id"]
        assigned = eventually(
            lambda: routing.get(f"/v1/cases/{case_id}/assignment").json().get("assignee"), what="assigned"
        )

        def load() -> int:
            people = routing.get("/v1/workload", params={"unit": "GD-SZ.cs"}).json()
            return next(p["load_points"] for p in people if p["id"] == assigned)  # type: ignore[no-any-return]

        before = load()
        for action, body in (("register", {}), ("reply", {}), ("close", {"customer_accepted": True})):
            response = intake.post(
                f"/v1/cases/{case_id}/actions/{action}",
                json={"actor": assigned, **body},
                headers=system.headers(sub=assigned),
            )
            assert response.status_code == 200, response.text
        eventually(
            lambda: routing.get(f"/v1/cases/{case_id}/assignment").json()["status"] == "closed",
            what="closed in routing",
        )
        assert load() == before - 50
        updates = system.tap.wait_for(lambda s: s.topic == Topics.case_updated and s.key == case_id.encode(), count=3)
        assert [u.json()["payload"]["action"] for u in updates] == ["register", "reply", "close"]


def test_intake_relay_publishes_at_its_pace(system: System) -> None:
    """Under steady posting, intake's relay makes one publish round per
    ``outbox_coalesce_seconds`` (50 ms), so that events share rounds: the gaps between
    rounds (seen in the records' own send times) are that long, not the 10-20 ms of a
    relay that publishes after every wake-up (decision 0019)."""
    with system.client("intake-svc") as intake:
        ids = [intake.post("/v1/cases", json=complaint()).json()["id"].encode() for _ in range(40)]
    sent = sorted(
        s.timestamp_ms
        for s in system.tap.wait_for(lambda s: s.topic == Topics.case_created and s.key in ids, count=len(ids))
    )
    rounds = [sent[0]] + [t for before, t in zip(sent, sent[1:], strict=False) if t - before >= 25]
    gaps = sorted(b - a for a, b in zip(rounds, rounds[1:], strict=False))
    assert len(rounds) < len(ids), rounds
    assert gaps and gaps[len(gaps) // 2] >= 40, gaps


def test_no_raw_personal_data_in_databases_logs_or_topics(system: System) -> None:
    """After this module's runs (cases through all four services, customer notices, an
    unmasked read), the raw phone and ID numbers are in no table, log line or event."""
    with system.client("intake-svc") as intake:
        case = intake.post("/v1/cases", json=complaint()).json()
        shown = intake.get(f"/v1/cases/{case['id']}", params={"reveal": "pii"}).json()["customer"]
        assert (shown["phone"], shown["id_number"]) == RAW_PERSONAL  # the data is there, in clear only on request
    system.tap.wait_for(lambda s: s.topic == Topics.case_transferred and s.key == case["id"].encode())
    var_dir = system.stack.var_dir
    places: dict[str, bytes] = {"topics": b"\n".join(s.value or b"" for s in system.tap.matching(lambda s: True))}
    for log in var_dir.glob("*.log"):
        places[log.name] = log.read_bytes()
    if system.db_name:
        dump = subprocess.run(
            ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", system.db_name],
            capture_output=True,
            check=True,
        )
        places["postgres"] = dump.stdout
    else:
        places.update({db.name: db.read_bytes() for db in var_dir.glob("*.db*")})
    assert len(places) >= 5 and all(places.values())
    found = [(where, raw) for where, blob in places.items() for raw in RAW_PERSONAL if raw.encode() in blob]
    assert not found


def test_every_event_on_the_bus_is_as_the_asyncapi_document_says(system: System) -> None:
    """Runs after the tests above have sent cases through: each event of a contract topic
    that the tap saw validates against its schema in ``docs/asyncapi.json``."""
    from tests.test_asyncapi import validator

    checked = {topic: 0 for topic in PAYLOADS}
    for topic in PAYLOADS:
        check = validator(topic)
        for seen in system.tap.matching(lambda s, topic=topic: s.topic == topic):
            event = seen.json()
            assert check.is_valid(event), [e.message for e in check.iter_errors(event)]
            checked[topic] += 1
    assert all(checked[t] > 0 for t in (Topics.case_created, Topics.case_transferred, Topics.case_overdue)), checked


def test_each_service_reports_what_it_did_on_metrics(system: System) -> None:
    """After the cases above: each consumer counts what it applied and its lag by
    partition, sla its fired timers and breach alerts, notify its webhook deliveries."""
    import httpx

    from tests.test_metrics import samples

    seen = {
        name: samples(httpx.get(f"{system.stack.url(name)}/metrics", timeout=10).text)
        for name in ("intake-svc", "routing-svc", "sla-svc", "notify-svc")
    }
    for name in ("routing-svc", "sla-svc", "notify-svc"):
        assert seen[name][("consumer_events_total", (("outcome", "applied"),))] > 0, name
        assert any(metric == "consumer_lag" for metric, _ in seen[name]), name
        assert seen[name][("broker_up", ())] == 1
    assert seen["sla-svc"][("timers_fired_total", ())] > 0
    breaches = [
        v for (m, labels), v in seen["sla-svc"].items() if m == "overdue_alerts_total" and ("level", "breach") in labels
    ]
    assert sum(breaches) > 0
    delivered = seen["notify-svc"].get(("deliveries_total", (("channel", "webhook"), ("outcome", "delivered"))), 0)
    assert delivered >= 1
    assert (
        seen["intake-svc"][("http_requests_total", (("method", "POST"), ("route", "/v1/cases"), ("status", "201")))]
        >= 1
    )


def test_one_case_is_one_trace_across_the_four_services(system: System, collector: TraceCollector) -> None:
    """The caller's trace continues through intake's request and outbox, the bus, each
    consumer, and notify's delivery, whose webhook carries it on; the JSON logs name it."""
    receiver = WebhookReceiver().start()
    try:
        with system.client("notify-svc") as notify:
            sub = notify.post(
                "/v1/subscriptions", json={"channel": "webhook", "target": receiver.url, "events": ["case.transferred"]}
            )
            assert sub.status_code == 201, sub.text
        trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
        traceparent = {"traceparent": f"00-{trace_id}-{caller_span}-01"}
        token = f"{secrets.token_hex(4)}.{secrets.token_urlsafe(24)}"
        with system.client("intake-svc") as intake:
            created = intake.post("/v1/cases", json=complaint(days_ago=0), headers=traceparent)
            assert created.status_code == 201, created.text
            refused = intake.post(f"/v1/cti/zammad/{token}", data={"event": "newCall"}, headers=traceparent)
            assert refused.status_code == 401
        [hit] = eventually(
            lambda: [r for r in receiver.requests if r.json()["case_id"] == created.json()["id"]],
            what="the delivery of case.transferred",
        )
        assert hit.headers["traceparent"].split("-")[1] == trace_id  # the receiver can join the trace

        wanted = {
            ("intake-svc", "POST /v1/cases"),
            ("intake-svc", "case.created publish"),
            ("routing-svc", "case.created process"),
            ("sla-svc", "case.created process"),
            ("notify-svc", "case.created process"),
            ("routing-svc", "case.transferred publish"),
            ("sla-svc", "case.transferred process"),
            ("notify-svc", "case.transferred process"),
            ("notify-svc", "case.transferred deliver"),
            ("intake-svc", "POST /v1/cti/zammad/{token}"),
        }

        def whole_trace() -> list[CollectedSpan] | None:
            spans = collector.trace(trace_id)
            return spans if wanted <= {(s.service, s.name) for s in spans} else None

        spans = eventually(whole_trace, what=f"spans {sorted(wanted)}")
    finally:
        receiver.stop()
    by_id = {s.span_id: s for s in spans}
    cti = next(s for s in spans if s.name == "POST /v1/cti/zammad/{token}")
    assert cti.attributes["url.path"] == "/v1/cti/zammad/***"
    exported = repr(collector.spans)
    assert token.split(".")[1] not in exported and not [raw for raw in RAW_PERSONAL if raw in exported]
    server = next(s for s in spans if s.name == "POST /v1/cases")
    assert server.parent_span_id == caller_span and server.attributes["http.response.status_code"] == 201

    def parent(service: str, name: str) -> tuple[str, str]:
        span = next(s for s in spans if (s.service, s.name) == (service, name))
        above = by_id[span.parent_span_id]
        return above.service, above.name

    assert parent("intake-svc", "case.created publish") == ("intake-svc", "POST /v1/cases")
    assert parent("routing-svc", "case.created process") == ("intake-svc", "case.created publish")
    assert parent("routing-svc", "case.transferred publish") == ("routing-svc", "case.created process")
    assert parent("notify-svc", "case.transferred process") == ("routing-svc", "case.transferred publish")
    assert parent("notify-svc", "case.transferred deliver") == ("notify-svc", "case.transferred process")
    assert hit.headers["traceparent"].split("-")[2] == next(s.span_id for s in spans if s.name.endswith("deliver"))

    logged = [
        json.loads(line)
        for line in (system.stack.var_dir / "intake-svc.log").read_text().splitlines()
        if line.startswith("{") and trace_id in line
    ]
    assert any(entry["msg"] == "request" and entry["trace_id"] == trace_id for entry in logged)
