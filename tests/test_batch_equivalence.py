"""A polled batch through the batch handlers leaves what one-by-one leaves (issue 14).

The consumer applies a polled batch of one topic in one transaction, with the topic's
batch handler writing each table in a few multi-row statements. The one-by-one path
is the reference: it is what every other test exercises. Hypothesis generates
batches (several cases, the same event twice, the same case under a second event id,
a transfer or a closing of a case that arrived before its creation (the transfer dated
after the case was received, at that moment, or before it), and, on Postgres, a poison event
whose branch code does not fit its column), feeds the same records to two copies of
the service, each on its own database, one copy the whole batch at once and the other
record by record, and compares every row those events could touch. The dead-letter
topic is a real broker's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import threading
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, select

from notify import tables as notify_tables
from notify.service import SPEC as NOTIFY
from routing import tables as routing_tables
from routing.service import SPEC as ROUTING
from services.app import ServiceSpec
from services.consumer import ConsumerRunner
from services.dev.broker import LocalBroker
from services.runtime import Runtime
from shared.events import CaseCreated, CaseTransferred, CaseUpdated, Envelope, new_event
from sla import tables as sla_tables
from sla.service import SPEC as SLA
from tests.support.inprocess import running
from tests.support.postgres import create_database, drop_database

T = TypeVar("T")
SEQ = itertools.count(1)
NOW = datetime.now(UTC).replace(microsecond=0)
POISON_BRANCH = "GD-" + "X" * 40  # longer than sla.cases.branch_code (32): Postgres refuses it
VOLATILE = {
    *("id", "created_at", "clock_id", "processed_at", "updated_at", "at", "queued_since", "last_assigned_at"),
    "next_attempt_at",  # notify: "now" for an immediate delivery
}


class Copy:
    """One sla service in-process with a consumer runner whose dead letters go to a real broker."""

    def __init__(self, runtime: Runtime, producer: AIOKafkaProducer) -> None:
        self.runtime = runtime
        self.runner = ConsumerRunner(
            runtime.name,
            runtime.db,
            runtime.tables,
            None,  # type: ignore[arg-type]  # no polling here: records are handed to it
            producer,
            runtime.spec.subscriptions,
            runtime.status,
            context=runtime,
            max_attempts=1,
            retry_base=0.0,
        )

    async def state(self, case_ids: set[uuid.UUID], seqs: set[int]) -> dict[str, list[str]]:
        """Every row the events could have touched, without ids or clock readings."""
        out: dict[str, list[str]] = {}
        async with self.runtime.db.session() as session:

            async def rows(name: str, query: Any) -> None:
                out[name] = sorted(repr(tuple(r)) for r in (await session.execute(query)).all())

            inbox = self.runtime.tables.inbox
            await rows("inbox", select(*kept(inbox)).where(inbox.c.seq.in_(seqs)))
            if self.runtime.name == "sla-svc":
                await sla_state(rows, case_ids)
            elif self.runtime.name == "notify-svc":
                await notify_state(rows, case_ids)
            else:
                await routing_state(rows, case_ids)
                outbox = self.runtime.tables.outbox
                query = select(outbox.c.topic, outbox.c.value).where(outbox.c.key.in_([str(c) for c in case_ids]))
                out["events"] = sorted(_event(r.topic, r.value) for r in (await session.execute(query)).all())
        return out


def kept(table: Table) -> list[Any]:
    return [c for c in table.c if c.name not in VOLATILE]


async def sla_state(rows: Any, case_ids: set[uuid.UUID]) -> None:
    t = sla_tables
    await rows("cases", select(*kept(t.cases)).where(t.cases.c.case_id.in_(case_ids)))
    await rows("events", select(*kept(t.case_events)).where(t.case_events.c.case_id.in_(case_ids)))
    await rows("parties", select(*kept(t.case_parties)).where(t.case_parties.c.case_id.in_(case_ids)))
    await rows("clocks", select(*kept(t.clocks)).where(t.clocks.c.case_id.in_(case_ids)))
    for name, table in (("plans", t.clock_plans), ("timers", t.timers)):
        query = select(t.clocks.c.case_id, t.clocks.c.clock, *kept(table)).join(
            t.clocks, t.clocks.c.id == table.c.clock_id
        )
        await rows(name, query.where(t.clocks.c.case_id.in_(case_ids)))


async def routing_state(rows: Any, case_ids: set[uuid.UUID]) -> None:
    t = routing_tables
    assignments = t.assignments
    queued = assignments.c.queued_since.is_(None).label("placed")
    await rows("assignments", select(*kept(assignments), queued).where(assignments.c.case_id.in_(case_ids)))
    await rows("transfers", select(*kept(t.transfers)).where(t.transfers.c.case_id.in_(case_ids)))
    assigned = t.staff.c.last_assigned_at.is_(None).label("never_assigned")
    await rows("staff", select(*kept(t.staff), assigned))  # capacity is shared: every person


async def notify_state(rows: Any, case_ids: set[uuid.UUID]) -> None:
    t = notify_tables
    await rows("cases", select(*kept(t.cases)).where(t.cases.c.case_id.in_(case_ids)))
    await rows("feed", select(*kept(t.feed)).where(t.feed.c.case_id.in_(case_ids)))
    # Subscription ids are each copy's own: a delivery is named by its subscription's target.
    same = [c for c in kept(t.deliveries) if c.name not in ("subscription_id", "recipient")]
    deliveries = select(*same, t.subscriptions.c.target).join(
        t.subscriptions, t.subscriptions.c.id == t.deliveries.c.subscription_id
    )
    await rows("deliveries", deliveries.where(t.deliveries.c.case_id.in_(case_ids)))


def _event(topic: str, value: str) -> str:
    """An outbox event without what differs on every run (its id and moment)."""
    envelope = json.loads(value)
    for volatile in ("event_id", "occurred_at"):
        envelope.pop(volatile, None)
    return topic + json.dumps(envelope, sort_keys=True)


class Pair:
    """Two copies on a loop of their own, so that hypothesis (synchronous) can drive them."""

    def __init__(self, spec: ServiceSpec, tmp: Path, urls: tuple[str | None, str | None], bootstrap: str) -> None:
        self.spec = spec
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stack = AsyncExitStack()
        self.copies = self.call(self._start(tmp, urls, bootstrap))

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(180)

    async def _start(self, tmp: Path, urls: tuple[str | None, str | None], bootstrap: str) -> list[Copy]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        await producer.start()
        self.stack.push_async_callback(producer.stop)
        copies = []
        for n, url in enumerate(urls):
            # Background rounds (timers, queue drains) stay out of the way: only the batch acts.
            quiet = {"timer_worker": False, "owner_grace_seconds": 0} if self.spec is SLA else {}
            if self.spec is ROUTING:
                quiet = {"queue_drain_seconds": 3600}
            if self.spec is NOTIFY:  # deliveries stay pending: no worker sends them meanwhile
                quiet = {"delivery_worker": False, "gap_watch_seconds": 3600}
            service = await self.stack.enter_async_context(running(self.spec, tmp / f"copy-{n}", url, **quiet))
            if self.spec is NOTIFY:  # someone to tell: every new case, and the major ones of one branch
                for body in (
                    {"channel": "webhook", "target": "https://hooks.example.com/all", "events": ["case.created"]},
                    {
                        "channel": "webhook",
                        "target": "https://hooks.example.com/gd",
                        "events": ["case.major"],
                        "branch_code": "GD",
                    },
                ):
                    response = await service.client.post("/v1/subscriptions", json=body)
                    assert response.status_code == 201, response.text
            copies.append(Copy(service.runtime, producer))
        return copies

    def close(self) -> None:
        self.call(self.stack.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def record(envelope: Envelope, seq: int) -> ConsumerRecord[bytes, bytes]:
    headers = [("producer", envelope.producer.encode()), ("producer-seq", str(seq).encode())]
    value = envelope.model_dump_json().encode()
    key = str(envelope.case_id).encode()
    return ConsumerRecord(envelope.type, 0, seq, 0, 0, key, value, None, len(key), len(value), headers)


cases = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["inquiry", "grievance", "complaint"]),
        "tier": st.sampled_from([None, "general", "major", "specialist"]),
        "category": st.sampled_from([None, "claims", "sales_agent_conduct", "policy_service", "other"]),
        "channel": st.sampled_from(["hotline", "letter", "counter", "online", "regulator", "email"]),
        "branch_code": st.sampled_from(["GD-SZ", "GD", "BJ", "SH-PD", "HO"]),
        "agent_code": st.sampled_from([None, "AG-1"]),
        "hours_ago": st.integers(0, 24 * 40),
    }
)


def created_events(drawn: list[dict[str, Any]]) -> list[Envelope]:
    """``case.created`` of each drawn case, received ``hours_ago``."""
    created = []
    for fields in drawn:
        hours_ago = fields.pop("hours_ago")
        payload = CaseCreated(
            case_no=f"N-{next(SEQ)}",
            line_of_business="individual_life",
            status="accepted",
            received_at=NOW - timedelta(hours=hours_ago),
            **fields,
        )
        created.append(new_event(payload, case_id=uuid.uuid4(), producer="intake-svc"))
    return created


@st.composite
def batches(draw: st.DrawFn, poison: bool) -> tuple[list[Any], list[Any], set[uuid.UUID], set[int]]:
    """(records applied first, one by one, in both copies; the batch; its case ids; its seqs)."""
    drawn = draw(st.lists(cases, min_size=1, max_size=8))
    if poison and len(drawn) > 1 and draw(st.booleans()):
        drawn[draw(st.integers(0, len(drawn) - 1))]["branch_code"] = POISON_BRANCH
    created = created_events(drawn)
    envelopes = list(created)
    for i in draw(st.lists(st.integers(0, len(created) - 1), max_size=3)):  # the same event again
        envelopes.append(created[i])
    for i in draw(st.lists(st.integers(0, len(created) - 1), max_size=2)):  # the same case, a new event id
        envelopes.append(created[i].model_copy(update={"event_id": uuid.uuid4()}))
    envelopes = draw(st.permutations(envelopes))
    first = []
    for i in draw(st.sets(st.integers(0, len(created) - 1), max_size=3)):  # assigned before it was created
        transfer = CaseTransferred(
            transfer_kind="assign",
            branch_code="GD-SZ",
            from_unit=None,
            to_unit="GD-SZ.claims",
            from_assignee=None,
            to_assignee="u-sz-cl-1",
            owner="u-sz-cs-2",
            reason="routed",
        )
        moved = new_event(transfer, case_id=created[i].case_id, producer="routing-svc")
        # When it happened: now (after the case was received), or, as a channel's clock
        # may have it, at the very moment the case was received or before: replayed then.
        received_at = created[i].typed_payload().received_at
        when = draw(st.sampled_from([None, timedelta(0), timedelta(minutes=-5)]))
        if when is not None:
            moved = moved.model_copy(update={"occurred_at": received_at + when})
        first.append(record(moved, next(SEQ)))
    for i in draw(st.sets(st.integers(0, len(created) - 1), max_size=2)):  # closed before it was created
        case = created[i].typed_payload()
        closed = CaseUpdated(
            action="close",
            status="closed",
            kind=case.kind,
            tier=case.tier,
            category=case.category,
            branch_code=case.branch_code,
        )
        first.append(record(new_event(closed, case_id=created[i].case_id, producer="intake-svc"), next(SEQ)))
    batch = [record(e, next(SEQ)) for e in envelopes]
    seqs = {r.offset for r in [*first, *batch]}
    return first, batch, {e.case_id for e in created}, seqs


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    broker = LocalBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    yield broker
    broker.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[SLA, ROUTING, NOTIFY], ids=["sla", "routing", "notify"])
def pair(
    request: pytest.FixtureRequest, backend_name: str, tmp_path: Path, broker: LocalBroker
) -> Iterator[tuple[Pair, bool]]:
    yield from _pair_of(request.param, backend_name, tmp_path, broker)


def _pair_of(spec: ServiceSpec, backend_name: str, tmp_path: Path, broker: LocalBroker) -> Iterator[tuple[Pair, bool]]:
    """Two copies of ``spec``, each on its own database (SQLite files, or Postgres)."""
    names: list[str] = []
    urls: tuple[str | None, str | None] = (None, None)
    if backend_name == "postgres":
        (a, url_a), (b, url_b) = create_database(), create_database()
        names, urls = [a, b], (url_a, url_b)
    pair = Pair(spec, tmp_path, urls, broker.bootstrap)
    try:
        yield pair, backend_name == "postgres"
    finally:
        pair.close()
        for name in names:
            drop_database(name)


def _counts(runner: ConsumerRunner) -> tuple[int, int, int]:
    return runner.processed, runner.duplicates, runner.dead_lettered


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_case_created_batch_matches_one_by_one(pair: tuple[Pair, bool], data: st.DataObject) -> None:
    copies, on_postgres = pair
    first, batch, case_ids, seqs = data.draw(batches(poison=on_postgres))
    state = apply_and_compare(copies, first, batch, case_ids, seqs, POISON_BRANCH)
    assert state.get("clocks") or state.get("assignments") or state.get("feed"), (
        "nothing applied: the comparison would prove nothing"
    )


def apply_and_compare(
    copies: Pair, first: list[Any], batch: list[Any], case_ids: set[uuid.UUID], seqs: set[int], poison: str
) -> dict[str, list[str]]:
    """``first`` record by record in both copies, then ``batch`` whole in one and record by
    record in the other; the same counts and the same rows in both. The batch path must
    have run, unless the poison sent it one by one. Returns the state compared."""
    whole, single = copies.copies
    before = [_counts(whole.runner), _counts(single.runner)]
    batches_before = whole.runner.batches

    async def apply() -> None:
        for copy in (whole, single):
            for r in first:
                await copy.runner.process([r])
        await whole.runner.process(batch)
        for r in batch:
            await single.runner.process([r])

    copies.call(apply())
    after = [_counts(whole.runner), _counts(single.runner)]
    deltas = [tuple(x - y for x, y in zip(a, b, strict=True)) for a, b in zip(after, before, strict=True)]
    assert deltas[0] == deltas[1]
    state = copies.call(whole.state(case_ids, seqs))
    assert state == copies.call(single.state(case_ids, seqs))
    poisoned = any(poison.encode() in (r.value or b"") for r in batch)
    if len(batch) > 1:
        assert whole.runner.batches - batches_before == (0 if poisoned else 1)
    return state


POISON_ASSIGNEE = "u-" + "x" * 80  # longer than sla.case_parties.assignee (64): Postgres refuses it


@st.composite
def transfer_batches(draw: st.DrawFn, poison: bool) -> tuple[list[Any], list[Any], set[uuid.UUID], set[int]]:
    """(cases created first, one by one; a batch of transfers of them, and of a case not
    created yet; its case ids; its seqs)."""
    drawn = draw(st.lists(cases, min_size=1, max_size=4))
    created = created_events(drawn)
    later = uuid.uuid4()  # its transfers come before its creation
    moves = st.tuples(
        st.sampled_from([*(c.case_id for c in created), later]),
        st.sampled_from(["assign", "transfer", "work_order", "escalate", "return"]),
        st.sampled_from([None, "u-sz-cl-1", "u-sz-cl-2"]),
        st.sampled_from([None, "u-sz-cs-2"]),
    )
    drawn_moves = draw(st.lists(moves, min_size=1, max_size=8))
    poisoned = draw(st.integers(0, len(drawn_moves) - 1)) if poison and draw(st.booleans()) else None
    transfers = []
    for n, (case_id, kind, assignee, owner) in enumerate(drawn_moves):
        transfer = CaseTransferred(
            transfer_kind=kind,
            branch_code="GD-SZ",
            from_unit=None,
            to_unit="GD-SZ.claims" if n % 2 else "GD.complaints",
            from_assignee=None,
            to_assignee=POISON_ASSIGNEE if n == poisoned else assignee,
            owner=owner,
            reason="routed",
        )
        at = NOW + timedelta(minutes=n)
        transfers.append(new_event(transfer, case_id=case_id, producer="routing-svc", occurred_at=at))
    for i in draw(st.lists(st.integers(0, len(transfers) - 1), max_size=2)):  # the same event again
        transfers.append(transfers[i])
    first = [record(e, next(SEQ)) for e in created]
    batch = [record(e, next(SEQ)) for e in transfers]
    return first, batch, {*(e.case_id for e in created), later}, {r.offset for r in [*first, *batch]}


@pytest.fixture
def sla_pair(backend_name: str, tmp_path: Path, broker: LocalBroker) -> Iterator[tuple[Pair, bool]]:
    yield from _pair_of(SLA, backend_name, tmp_path, broker)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_case_transferred_batch_matches_one_by_one(sla_pair: tuple[Pair, bool], data: st.DataObject) -> None:
    copies, on_postgres = sla_pair
    first, batch, case_ids, seqs = data.draw(transfer_batches(poison=on_postgres))
    state = apply_and_compare(copies, first, batch, case_ids, seqs, POISON_ASSIGNEE)
    assert state["events"], "nothing applied: the comparison would prove nothing"


def test_a_poll_is_applied_topic_by_topic_across_partitions(sla_pair: tuple[Pair, bool]) -> None:
    """A poll spanning several partitions of two topics is two transactions, one per
    topic (it was one per partition), ``case.created`` first even when the fetcher
    handed the transfers over first; and leaves what the records one by one leave."""
    copies, _ = sla_pair
    whole, single = copies.copies
    fields = {"kind": "complaint", "tier": None, "category": None, "channel": "hotline", "agent_code": None}
    created = created_events([{**fields, "branch_code": "GD-SZ", "hours_ago": h} for h in (1, 2, 3)])
    moved = CaseTransferred(
        transfer_kind="transfer",
        branch_code="GD-SZ",
        from_unit="GD-SZ.claims",
        to_unit="GD.complaints",
        from_assignee=None,
        to_assignee="u-sz-cl-1",
        owner="u-sz-cs-2",
        reason="routed",
    )
    transfers = [new_event(moved, case_id=c.case_id, producer="routing-svc", occurred_at=NOW) for c in created]

    def on(partition: int, envelope: Envelope) -> ConsumerRecord[bytes, bytes]:
        return dataclasses.replace(record(envelope, next(SEQ)), partition=partition)

    t0, t1, t2 = (on(p, e) for p, e in zip((0, 1, 1), transfers, strict=True))
    c0, c1, c2 = (on(p, e) for p, e in enumerate(created))
    poll = {  # as a fetcher may hand it over: the transfers' partitions first
        TopicPartition(t0.topic, 0): [t0],
        TopicPartition(t1.topic, 1): [t1, t2],
        **{TopicPartition(c.topic, c.partition): [c] for c in (c0, c1, c2)},
    }
    order: list[str] = []
    handlers = whole.runner.batch_handlers
    for topic, handler in list(handlers.items()):

        async def noted(session: Any, items: Any, context: Any, topic: str = topic, handler: Any = handler) -> None:
            order.append(topic)
            await handler(session, items, context)

        handlers[topic] = noted
    batches_before = whole.runner.batches

    async def apply() -> None:
        await whole.runner.apply_poll(poll)
        for r in (c0, c1, c2, t0, t1, t2):
            await single.runner.process([r])

    copies.call(apply())
    assert order == ["case.created", "case.transferred"]
    assert whole.runner.batches - batches_before == 2
    case_ids, seqs = {c.case_id for c in created}, {r.offset for r in (c0, c1, c2, t0, t1, t2)}
    state = copies.call(whole.state(case_ids, seqs))
    assert state == copies.call(single.state(case_ids, seqs))
    assert state["clocks"] and state["events"]
