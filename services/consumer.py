"""The consumer runner: one consumer group per service, effect once per event.

For each message: decode and validate the envelope; in one transaction insert the
event id into the inbox (a duplicate inserts nothing and is skipped) and run the
handler; commit; only then commit the offset. The records of one poll are taken
topic by topic, each topic's records from every partition tried in a single
transaction (one commit for many events, which is what keeps a consumer ahead of a
busy intake), then every partition's offset in one commit; if anything in a
transaction fails, it is rolled back and its events applied one by one with the
rules below. Failures:

- a message that can never be processed (not JSON, not the contract, or a handler
  raising ``PoisonEvent``) is parked on a dead-letter topic (``services.dead_letters``);
- a lost database or broker connection is retried with backoff, for as long as it
  takes, without moving the offset;
- any other handler error is retried ``consumer_max_attempts`` times, then dead-lettered.

Each message gets a process span when traces are on (``services.tracing``); what a
batch stages joins the trace of its case's message.

Each event's producer and publish sequence (message headers) go into the inbox with
it, and records of ``platform.watermarks`` say how far each producer has published:
``services.streams`` turns both into a check that no event went missing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind
from sqlalchemy.ext.asyncio import AsyncSession

from services import failpoints, native, tracing
from services.database import Database, insert_ignoring_conflicts, utcnow
from services.dead_letters import DeadLetters, is_transient
from services.kafka import BrokerStatus, FetchPace, set_fetch_wait
from services.logging import correlation_id
from services.streams import StreamWatch, stream_of
from services.tables import RuntimeTables
from shared.events import Envelope, InvalidEvent, Topics, Watermarks, decode

log = logging.getLogger(__name__)

#: How long one poll waits for records. Records end the wait at once, so a longer
#: wait costs no latency; it only sets how often an idle consumer's loop turns (the
#: lag figures and the stream check run once a turn, ``check_seconds`` bounds the latter).
POLL_TIMEOUT_MS = 2000

#: ``handler(session, envelope, typed_payload, runtime)``; it must not commit.
Handler = Callable[[AsyncSession, Envelope, Any, Any], Awaitable[None]]
#: ``batch(session, [(envelope, typed_payload), ...], runtime)``: the new events of one
#: polled batch of one topic, in order; same effect as ``handler`` on each; no commit.
BatchHandler = Callable[[AsyncSession, list[tuple[Envelope, Any]], Any], Awaitable[None]]
#: One decoded message: its record (topic, headers, offset), its envelope and typed payload.
Item = tuple[ConsumerRecord[bytes, bytes], Envelope, object]


class PoisonEvent(Exception):
    """Raised by a handler for an event that is valid JSON but can never be applied."""


@dataclass(frozen=True)
class Subscription:
    """Which handler applies events of one topic; ``batch``, where given, applies a whole
    polled batch in a few multi-row statements (``handler`` stays the one-by-one path
    that isolates a poison event)."""

    topic: str
    handler: Handler
    batch: BatchHandler | None = None


class ConsumerRunner:
    def __init__(
        self,
        group: str,
        db: Database,
        tables: RuntimeTables,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        subscriptions: list[Subscription],
        status: BrokerStatus,
        *,
        context: Any,
        max_attempts: int,
        retry_base: float,
        gap_grace_seconds: float = 60.0,
        check_seconds: float = 5.0,
        fetch_pace: FetchPace | None = None,
    ) -> None:
        self.context = context  # the service's Runtime, handed to every handler
        self.group, self.db, self.tables = group, db, tables
        self.consumer, self.producer, self.status = consumer, producer, status
        self.handlers = {s.topic: s.handler for s in subscriptions}
        self.batch_handlers = {s.topic: s.batch for s in subscriptions if s.batch is not None}
        self.max_attempts, self.retry_base = max_attempts, retry_base
        self.watch = StreamWatch(db, tables, self.handlers, gap_grace_seconds)
        self.dead_letters = DeadLetters(producer, Topics.dead_letter(group), group, self.watch, status, retry_base)
        self.check_seconds = check_seconds
        self.fetch_pace = fetch_pace
        self._last_check = 0.0
        self.processed = 0
        self.duplicates = 0
        self.batches = 0  # polled batches applied in one transaction (the rest went one by one)
        self._positions: dict[TopicPartition, int] = {}
        self.lag_by_partition: dict[tuple[str, int], int] = {}  # (topic, partition) -> records behind
        self._inbox_claim: Any = None

    async def run(self) -> None:
        while True:
            try:
                batches = await self.consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            except KafkaError as exc:  # broker away: aiokafka reconnects; we wait and poll again
                self.status.failed(exc)
                await asyncio.sleep(1)
                continue
            loop = asyncio.get_running_loop()
            if self.fetch_pace and (wait_ms := self.fetch_pace.after_poll(bool(batches), loop.time())) is not None:
                set_fetch_wait(self.consumer, wait_ms)
            if batches:
                await self.apply_poll(batches)
                await self._commit_offsets({tp: records[-1].offset + 1 for tp, records in batches.items()})
            self._update_lag()
            if loop.time() - self._last_check > self.check_seconds:
                self._last_check = loop.time()
                try:
                    await self.watch.check()
                except Exception as exc:  # noqa: BLE001 - the database away (a refused connect too): next time
                    if not is_transient(exc):
                        raise
                    log.warning("stream check failed", extra={"error": type(exc).__name__})

    async def apply_poll(self, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        """One poll: each topic's records from every partition applied together (one
        transaction per topic, not one per partition), topics in the order of the
        subscriptions (``case.created`` first, so that a case's transfer polled with its
        creation finds the case instead of waiting to be replayed), then the watermarks.
        A case's events of one topic stay in order: they share a partition. The caller
        then commits every offset at once."""
        by_topic: dict[str, list[ConsumerRecord[bytes, bytes]]] = {}
        for tp, records in batches.items():
            by_topic.setdefault(tp.topic, []).extend(records)
        for topic in self.handlers:
            if topic in by_topic:
                await self.process(by_topic.pop(topic))
        watermarks = by_topic.pop(Topics.watermarks, None)
        if watermarks:
            await self._take_watermarks(watermarks)
        for records in by_topic.values():  # a topic this group does not handle: dead-lettered
            await self.process(records)

    async def _take_watermarks(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        messages = []
        for record in records:
            try:
                messages.append(Watermarks.model_validate_json(record.value or b""))
            except ValueError:
                log.warning("unreadable watermark skipped", extra={"offset": record.offset})
        await self.watch.announced(messages)
        self._moved_past(records)

    async def process(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Apply a polled batch in one transaction (fast); on any failure, one by one (exact)."""
        valid: list[Item] = []
        for record in records:
            try:
                envelope, decoded = decode(record.value)
                if record.topic not in self.handlers:
                    raise InvalidEvent(f"no handler for topic {record.topic}")
                valid.append((record, envelope, decoded))
            except InvalidEvent as exc:
                await self.dead_letters.send(record, f"invalid event: {exc}")
        spans = [_process_span(record, envelope) for record, envelope, _ in valid] if tracing.enabled() else []
        try:
            await self._apply_valid(valid, spans)
        finally:
            for span in spans:
                span.end()
        self._moved_past(records)

    def _moved_past(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:  # in each partition's order: its last one wins
            self._positions[TopicPartition(record.topic, record.partition)] = record.offset + 1

    async def _apply_valid(self, valid: list[Item], spans: list[Span]) -> None:
        if len(valid) > 1:
            by_case = {e.case_id: s for (_, e, _), s in zip(valid, spans, strict=True)} if spans else {}
            try:
                with tracing.for_cases(by_case):
                    applied = await self._apply_all(valid)
            except Exception as exc:  # noqa: BLE001 - retried below, event by event
                log.info("batch failed; applying one by one", extra={"error": type(exc).__name__, "size": len(valid)})
            else:
                self.processed += applied
                self.duplicates += len(valid) - applied
                return
        for i, (record, envelope, payload) in enumerate(valid):
            token = correlation_id.set(envelope.correlation_id)
            span = spans[i] if spans else INVALID_SPAN
            try:
                with tracing.current(span), tracing.for_cases({envelope.case_id: span}):
                    await self._apply_with_retries(record, envelope, payload)
            finally:
                correlation_id.reset(token)

    async def _apply_all(self, items: list[Item]) -> int:
        """One transaction: one inbox statement claims the new events, then the topic's
        batch handler (or its handler, event by event) applies them."""
        async with self.db.session() as session:
            await self.watch.arrived(session, _streams(r for r, _, _ in items))
            fresh = await self._claim(session, items)
            topics = {record.topic for record, _, _ in fresh}
            batch = self.batch_handlers.get(next(iter(topics))) if len(topics) == 1 else None
            if batch is not None:
                await batch(session, [(envelope, payload) for _, envelope, payload in fresh], self.context)
            else:
                for record, envelope, payload in fresh:
                    token = correlation_id.set(envelope.correlation_id)
                    try:
                        await self.handlers[record.topic](session, envelope, payload, self.context)
                    finally:
                        correlation_id.reset(token)
            failpoints.reached("consumer.batch_applied")
            await session.commit()
        failpoints.reached("consumer.batch_committed")
        self.batches += 1
        return len(fresh)

    async def _claim(self, session: AsyncSession, items: list[Item]) -> list[Item]:
        """Insert every event id into the inbox at once; the events it took, first arrivals only."""
        if self._inbox_claim is None:  # built once: executed with parameters, compiled once
            inbox = self.tables.inbox
            self._inbox_claim = insert_ignoring_conflicts(session, inbox, ["event_id"]).returning(inbox.c.event_id)
        now = utcnow()
        rows: dict[str, dict[str, Any]] = {}
        for record, envelope, _ in items:
            producer, seq = stream_of(record.headers) or (None, None)
            event_id = str(envelope.event_id)
            rows.setdefault(
                event_id,
                {"event_id": event_id, "topic": record.topic, "processed_at": now, "producer": producer, "seq": seq},
            )
        taken = {row[0] for row in await native.fetch_many(session, self._inbox_claim, list(rows.values()))}
        fresh, seen = [], set()
        for item in items:
            event_id = str(item[1].event_id)
            if event_id in taken and event_id not in seen:
                seen.add(event_id)
                fresh.append(item)
            else:
                log.info("duplicate event skipped", extra={"event_id": event_id, "topic": item[0].topic})
        return fresh

    async def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        """One commit for the whole poll (it was one per partition: a broker round trip each)."""
        delay = self.retry_base
        while True:
            try:
                await self.consumer.commit(offsets)
                return
            except KafkaError as exc:  # broker away or rebalance; the inbox makes redelivery harmless
                self.status.failed(exc)
                log.warning("offset commit failed; retrying", extra={"error": str(exc)[:200]})
                # A partition moved to another member resumes there from its last commit.
                offsets = {tp: o for tp, o in offsets.items() if tp in self.consumer.assignment()}
                if not offsets:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _update_lag(self) -> None:
        """Lag per topic as the broker's high-water mark minus our position (an estimate)."""
        by_partition: dict[tuple[str, int], int] = {}
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            position = self._positions.get(tp)
            if high is not None and position is not None:
                by_partition[(tp.topic, tp.partition)] = max(high - position, 0)
        lag: dict[str, int] = {}
        for (topic, _), behind in by_partition.items():
            lag[topic] = lag.get(topic, 0) + behind
        self.status.consumer_lag = lag
        self.lag_by_partition = by_partition

    async def _apply_with_retries(
        self, record: ConsumerRecord[bytes, bytes], envelope: Envelope, payload: object
    ) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                if await self._apply(record, envelope, payload):
                    self.processed += 1
                else:
                    self.duplicates += 1
                return
            except PoisonEvent as exc:
                await self.dead_letters.send(record, f"rejected by handler: {exc}")
                return
            except Exception as exc:  # noqa: BLE001 - classified below
                if is_transient(exc):
                    log.warning(
                        "transient failure; retrying",
                        extra={"event_id": str(envelope.event_id), "error": type(exc).__name__},
                    )
                elif attempt >= self.max_attempts:
                    log.exception("handler failed; dead-lettering", extra={"event_id": str(envelope.event_id)})
                    await self.dead_letters.send(
                        record, f"handler failed {attempt} times: {type(exc).__name__}: {exc}"[:500]
                    )
                    return
                else:
                    log.warning(
                        "handler failed; retrying", extra={"event_id": str(envelope.event_id), "error": repr(exc)[:200]}
                    )
                await asyncio.sleep(min(self.retry_base * 2 ** min(attempt, 6), 10.0))

    @property
    def dead_lettered(self) -> int:
        return self.dead_letters.sent

    async def apply(self, envelope: Envelope) -> bool:
        """Apply one event as if it came from the bus (inbox included); for tools and tests."""
        record: ConsumerRecord[bytes, bytes] = ConsumerRecord(envelope.type, 0, -1, 0, 0, None, None, None, 0, 0, [])
        return await self._apply(record, envelope, envelope.typed_payload())

    async def _apply(self, record: ConsumerRecord[bytes, bytes], envelope: Envelope, payload: object) -> bool:
        """Apply once in a transaction of its own; False when the inbox shows it was applied before."""
        async with self.db.session() as session:
            await self.watch.arrived(session, _streams([record]))
            applied = await self._apply_in(session, record, envelope, payload)
            await session.commit()
            return applied

    async def _apply_in(
        self,
        session: AsyncSession,
        record: ConsumerRecord[bytes, bytes],
        envelope: Envelope,
        payload: object,
    ) -> bool:
        """One event through the same inbox claim as a batch; False for a duplicate."""
        if not await self._claim(session, [(record, envelope, payload)]):
            return False
        await self.handlers[record.topic](session, envelope, payload, self.context)
        return True


def _streams(records: Iterable[ConsumerRecord[bytes, bytes]]) -> set[tuple[str, str]]:
    """The (producer, topic) streams that ``records`` belong to."""
    return {(s[0], r.topic) for r in records if (s := stream_of(r.headers)) is not None}


def _process_span(record: ConsumerRecord[bytes, bytes], envelope: Envelope) -> Span:
    """One message's process span, continuing its ``traceparent`` header (``services.tracing``)."""
    attributes = {
        "messaging.destination.name": record.topic,
        "messaging.message.id": str(envelope.event_id),
        "messaging.kafka.offset": record.offset,
    }
    parent = tracing.from_headers(record.headers)
    return tracing.start(f"{record.topic} process", SpanKind.CONSUMER, parent, attributes)
