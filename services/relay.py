"""The outbox relay: publishes the rows ``services.outbox`` staged, in order, and marks them.

Ordering: one relay at a time per service publishes, in id order, so events of one
case (one key, one partition) leave in the order they were committed. With several
replicas on Postgres the batch runs under a transaction-level advisory lock; the
others skip that round. While the broker is away the relay keeps retrying with
backoff and the backlog grows in the table; when it is back, the backlog drains.
Delivery is at least once (a batch cut off midway is sent again); consumers dedup
by ``event_id``.

Published rows are kept for ``retention`` for one reason: a broker that comes back
empty. Before its first batch, and again after any failure, the relay asks the
broker for its cluster id. A cluster it has not published to before (a local
broker restarted with nothing in memory, a Kafka cluster rebuilt) cannot hold what
was sent to the old one, so every retained row is published again, in id order;
consumers drop what they already applied. Each message carries the headers
``producer`` and ``producer-seq`` (a gap-free number per topic, given at first
publish), and every ``watermark_seconds`` the relay says on ``platform.watermarks``
how far each topic has got, so that a consumer can see a hole that replay could
not fill (``services.streams``). See docs/decisions/0009-nothing-lost-on-restart.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry.trace import Span, SpanKind
from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services import tracing
from services.database import Database, changed_rows, upsert, utcnow
from services.kafka import BrokerStatus, cluster_id
from services.streams import stream_headers
from services.tables import RuntimeTables
from shared.events import Topics, Watermarks

log = logging.getLogger(__name__)

#: With nothing to publish, check the broker after this long without a sign of life.
PROBE_AFTER_IDLE_SECONDS = 3.0
#: After a failed round, the first retry waits this long (doubling up to 10 s).
RETRY_SECONDS = 0.5
#: Another replica's relay holds the publish lock: look again this soon (it may be
#: publishing its own rows only, and this replica's commits wake only this relay).
LOCK_RETRY_SECONDS = 0.02
#: The broker's cluster id is asked again at least this often, even under steady load
#: (a broker replaced without a failed send would otherwise go unnoticed).
CLUSTER_CHECK_SECONDS = 30.0


def publish_lock_key(schema: str) -> int:
    """The advisory lock one relay of a service holds while it publishes (replicas)."""
    return int.from_bytes(hashlib.sha256(f"outbox:{schema}".encode()).digest()[:7], "big")


def pace_delay(round_started: float, now: float, coalesce_seconds: float) -> float:
    """How long a relay woken at ``now`` waits before its next round: until
    ``coalesce_seconds`` after the last round began, or not at all after a quiet spell."""
    return max(0.0, round_started + coalesce_seconds - now)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        tables: RuntimeTables,
        producer: AIOKafkaProducer,
        status: BrokerStatus,
        *,
        poll_seconds: float,
        batch_size: int,
        retention: timedelta,
        send_timeout: float,
        producer_name: str,
        watermark_seconds: float = 5.0,
        coalesce_seconds: float = 0.01,
    ) -> None:
        self.db, self.tables, self.producer, self.status = db, tables, producer, status
        self.poll_seconds, self.batch_size, self.retention = poll_seconds, batch_size, retention
        self.send_timeout, self.coalesce_seconds = send_timeout, coalesce_seconds
        self.producer_name, self.watermark_seconds = producer_name, watermark_seconds
        self._cluster_verified = False
        self._cluster_checked = 0.0
        self._sequences: dict[str, int] | None = None
        self._announced: dict[str, int] = {}
        self._announced_at = 0.0
        self._wake = db.wakeups.signal("outbox")  # set by commits that staged events (services.wakeup)
        self._locked_out = False  # the last round found another replica publishing
        self._round_started = 0.0  # loop time the last round began (``_pace``)
        self._lock_key = publish_lock_key(db.schema)

    async def run(self) -> None:
        """Publish, then wait to be woken by a commit (``poll_seconds`` is only a safety net)."""
        backoff = RETRY_SECONDS
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        while True:
            # Cleared before looking, so a commit during this round wakes the next one at once.
            self._wake.clear()
            wait = self.poll_seconds
            self._round_started = loop.time()
            try:
                if not self._cluster_verified or time.monotonic() - self._cluster_checked > CLUSTER_CHECK_SECONDS:
                    await self.check_cluster()
                sent = await self.publish_batch()
                await self.announce()
                backoff = RETRY_SECONDS
                if self._locked_out:
                    wait = LOCK_RETRY_SECONDS
                if loop.time() - last_purge > 60:
                    await self.purge()
                    last_purge = loop.time()
                if sent >= self.batch_size:
                    continue  # more waiting: no sleep
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or database away: retry
                self._cluster_verified = False  # it may come back as another (empty) cluster
                self.status.failed(exc)
                log.warning("outbox publish failed; retrying", extra={"error": self.status.last_error})
                wait = backoff
                backoff = min(backoff * 2, 10.0)
            if await self._wake.wait(wait):
                await self._pace(loop)
            if self.status.last_ok is None or time.time() - self.status.last_ok > PROBE_AFTER_IDLE_SECONDS:
                await self.probe()

    async def _pace(self, loop: asyncio.AbstractEventLoop) -> None:
        """Woken by a commit: publish at once after a quiet spell, else wait until
        ``coalesce_seconds`` after the last round began, so that the commits meanwhile
        join one batch. A round (a transaction of several statements and a produce
        request) cost intake about 3 ms of CPU whatever its size; at 100 cases/s a fixed
        10 ms wait after each wake-up still made a round of two events, 1.5 ms per case,
        a third of intake's CPU (measured, issue 14). Paced, a busy relay makes at most
        one round per ``coalesce_seconds`` and an event waits at most that long; an
        event after a quiet spell is not held at all."""
        delay = pace_delay(self._round_started, loop.time(), self.coalesce_seconds)
        if delay > 0:
            await asyncio.sleep(delay)

    async def probe(self) -> None:
        """Ask the broker for metadata so that ``/readyz`` is right even when nothing is sent."""
        try:
            found = await asyncio.wait_for(cluster_id(self.producer), timeout=3)
            self.status.ok()
            if found != self.status.cluster_id:
                self._cluster_verified = False  # the broker was replaced while we were idle
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._cluster_verified = False
            self.status.failed(exc if str(exc) else "broker did not answer a metadata request")

    async def check_cluster(self) -> int:
        """Publish every retained row again if the broker is a cluster this outbox has not
        published to before; returns how many rows that was (0 when it is the same one)."""
        found = await asyncio.wait_for(cluster_id(self.producer), timeout=self.send_timeout)
        clusters = self.tables.broker_clusters
        replayed = 0
        async with self.db.session() as session:
            last = (
                await session.execute(select(clusters.c.cluster_id).order_by(clusters.c.first_seen_at.desc()).limit(1))
            ).scalar()
            if found is None:
                log.warning("the broker does not tell its cluster id; a broker that restarted empty goes unnoticed")
            elif found != last:
                if last is not None:
                    replayed = await changed_rows(
                        session,
                        update(self.tables.outbox)
                        .where(self.tables.outbox.c.published_at.is_not(None))
                        .values(published_at=None),
                    )
                stmt = upsert(session, clusters).values(cluster_id=found, first_seen_at=utcnow(), replayed=replayed)
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["cluster_id"],
                        set_={"first_seen_at": stmt.excluded.first_seen_at, "replayed": stmt.excluded.replayed},
                    )
                )
                await session.commit()
                if last is not None:
                    log.warning(
                        "the broker is a new cluster: publishing retained events again",
                        extra={"previous_cluster": last, "cluster": found, "events": replayed},
                    )
        self.status.cluster_id, self._cluster_verified = found, True
        self._cluster_checked = time.monotonic()
        self.status.replayed += replayed
        return replayed

    async def announce(self, force: bool = False) -> None:
        """Say on ``platform.watermarks`` how far each topic has been published: after a
        change at most every ``watermark_seconds``, and at least every ten of them."""
        now = time.monotonic()
        if self._sequences is None:
            async with self.db.session() as session:
                rows = (await session.execute(select(self.tables.outbox_sequences))).all()
            self._sequences = {r.topic: int(r.last_seq) for r in rows}
        if not self._sequences:
            return
        since = now - self._announced_at
        changed = self._sequences != self._announced
        if not force and since < self.watermark_seconds * (1 if changed else 10):
            return
        message = Watermarks(
            producer=self.producer_name, cluster_id=self.status.cluster_id, at=utcnow(), sequences=self._sequences
        )
        await asyncio.wait_for(
            self.producer.send_and_wait(
                Topics.watermarks, value=message.model_dump_json().encode(), key=self.producer_name.encode()
            ),
            timeout=self.send_timeout,
        )
        self._announced, self._announced_at = dict(self._sequences), now

    async def publish_batch(self) -> int:
        outbox = self.tables.outbox
        async with self.db.session() as session:
            if not self.db.is_sqlite:
                got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": self._lock_key})
                self._locked_out = not got
                if not got:
                    return 0
            rows = (
                await session.execute(
                    select(
                        outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.seq, outbox.c.traceparent
                    )
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                return 0
            seqs, last = await self._sequence(session, rows)
            await asyncio.wait_for(self._send(rows, seqs), timeout=self.send_timeout)
            self.status.ok()
            now = utcnow()
            fresh = [r.id for r in rows if r.seq is None]
            if fresh:
                await session.execute(
                    update(outbox)
                    .where(outbox.c.id == bindparam("row_id"))
                    .values(seq=bindparam("row_seq"), published_at=now, attempts=outbox.c.attempts + 1),
                    [{"row_id": i, "row_seq": seqs[i]} for i in fresh],
                )
                sequences = self.tables.outbox_sequences
                for topic, value in last.items():
                    stmt = upsert(session, sequences).values(topic=topic, last_seq=value)
                    await session.execute(
                        stmt.on_conflict_do_update(index_elements=["topic"], set_={"last_seq": value})
                    )
            again = [r.id for r in rows if r.seq is not None]
            if again:
                await session.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(again))
                    .values(published_at=now, attempts=outbox.c.attempts + 1)
                )
            await session.commit()
            if self._sequences is not None:
                self._sequences.update(last)
            return len(rows)

    async def _sequence(
        self, session: AsyncSession, rows: Sequence[Row[*tuple[Any, ...]]]
    ) -> tuple[dict[int, int], dict[str, int]]:
        """Each row's publish sequence: its own if it has one (a replay), else the next of its topic."""
        seqs = {r.id: int(r.seq) for r in rows if r.seq is not None}
        topics = {r.topic for r in rows if r.seq is None}
        if not topics:
            return seqs, {}
        sequences = self.tables.outbox_sequences
        found = await session.execute(
            select(sequences.c.topic, sequences.c.last_seq).where(sequences.c.topic.in_(topics))
        )
        last = {t: 0 for t in topics} | {r.topic: int(r.last_seq) for r in found}
        for r in rows:
            if r.seq is None:
                last[r.topic] += 1
                seqs[r.id] = last[r.topic]
        return seqs, last

    async def _send(self, rows: Sequence[Row[*tuple[Any, ...]]], seqs: dict[int, int]) -> None:
        spans = [_publish_span(r.topic, r.traceparent) for r in rows]
        futures = [
            await self.producer.send(
                r.topic,
                value=r.value.encode(),
                key=r.key.encode(),
                headers=stream_headers(self.producer_name, seqs[r.id]) + _trace_header(span),
            )
            for r, span in zip(rows, spans, strict=True)
        ]
        try:
            await asyncio.gather(*futures)
        finally:
            for span in spans:
                span.end()

    async def purge(self) -> None:
        outbox = self.tables.outbox
        async with self.db.session() as session:
            await session.execute(delete(outbox).where(outbox.c.published_at < utcnow() - self.retention))
            await session.commit()


def _publish_span(topic: str, traceparent: str | None) -> Span:
    """The publish span of one outbox row, a child of the work that staged it."""
    parent = tracing.extract({tracing.TRACEPARENT: traceparent}) if traceparent else None
    return tracing.start(f"{topic} publish", SpanKind.PRODUCER, parent, {"messaging.destination.name": topic})


def _trace_header(span: Span) -> list[tuple[str, bytes]]:
    """The message's ``traceparent`` header: the publish span, which the consumer continues."""
    if not span.is_recording():
        return []
    value = tracing.traceparent_of(span)
    return [(tracing.TRACEPARENT, value.encode())] if value else []
