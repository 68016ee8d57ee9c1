"""Transactional outbox: the event is a row written in the same transaction as the
state change it announces; a relay publishes rows in order and marks them.

Ordering: one relay at a time per service publishes, in id order, so events of one
case (one key, one partition) leave in the order they were committed. With several
replicas on Postgres the batch runs under a transaction-level advisory lock; the
others skip that round. While the broker is away the relay keeps retrying with
backoff and the backlog grows in the table; when it is back, the backlog drains.
Delivery is at least once (a batch cut off midway is sent again); consumers dedup
by ``event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import Database, utcnow
from services.kafka import BrokerStatus
from services.tables import RuntimeTables
from shared.events import Envelope, encode

log = logging.getLogger(__name__)

#: With nothing to publish, check the broker after this long without a sign of life.
PROBE_AFTER_IDLE_SECONDS = 3.0
#: How long a woken relay waits for more events before publishing.
COALESCE_SECONDS = 0.01


async def enqueue(session: AsyncSession, tables: RuntimeTables, envelope: Envelope) -> None:
    """Stage an event in the caller's transaction; it is published only if that commits."""
    await enqueue_many(session, tables, [envelope])


async def enqueue_many(session: AsyncSession, tables: RuntimeTables, envelopes: list[Envelope]) -> None:
    """Stage many events in one statement (a timer round may fire thousands)."""
    if not envelopes:
        return
    session.sync_session.info["outbox_dirty"] = True
    now = utcnow()
    rows = [
        {
            "event_id": str(e.event_id),
            "topic": e.type,
            "key": str(e.case_id),
            "value": encode(e).decode(),
            "created_at": now,
        }
        for e in envelopes
    ]
    await session.execute(tables.outbox.insert(), rows)


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
    ) -> None:
        self.db, self.tables, self.producer, self.status = db, tables, producer, status
        self.poll_seconds, self.batch_size, self.retention = poll_seconds, batch_size, retention
        self.send_timeout = send_timeout
        self._wake = asyncio.Event()
        self._lock_key = int.from_bytes(hashlib.sha256(f"outbox:{db.schema}".encode()).digest()[:7], "big")

    def wake(self) -> None:
        """Called after a commit that staged events, so they leave without waiting a poll."""
        self._wake.set()

    async def run(self) -> None:
        backoff = self.poll_seconds
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                sent = await self.publish_batch()
                backoff = self.poll_seconds
                if loop.time() - last_purge > 60:
                    await self.purge()
                    last_purge = loop.time()
                if sent >= self.batch_size:
                    continue  # more waiting: no sleep
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker or database away: retry
                self.status.failed(exc)
                log.warning("outbox publish failed; retrying", extra={"error": self.status.last_error})
                backoff = min(backoff * 2, 10.0)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
                # Woken by a commit: let the next few commits join this batch (one publish
                # transaction for many events under load, ~10 ms added when idle).
                await asyncio.sleep(COALESCE_SECONDS)
            if self.status.last_ok is None or time.time() - self.status.last_ok > PROBE_AFTER_IDLE_SECONDS:
                await self.probe()

    async def probe(self) -> None:
        """Ask the broker for metadata so that ``/readyz`` is right even when nothing is sent."""
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout=3)
            self.status.ok()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self.status.failed(exc if str(exc) else "broker did not answer a metadata request")

    async def publish_batch(self) -> int:
        outbox = self.tables.outbox
        async with self.db.session() as session:
            if not self.db.is_sqlite:
                got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": self._lock_key})
                if not got:
                    return 0
            rows = (
                await session.execute(
                    select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                return 0
            await asyncio.wait_for(self._send(rows), timeout=self.send_timeout)
            self.status.ok()
            await session.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(published_at=utcnow(), attempts=outbox.c.attempts + 1)
            )
            await session.commit()
            return len(rows)

    async def _send(self, rows: list) -> None:  # type: ignore[type-arg]
        futures = [await self.producer.send(r.topic, value=r.value.encode(), key=r.key.encode()) for r in rows]
        await asyncio.gather(*futures)

    async def purge(self) -> None:
        outbox = self.tables.outbox
        async with self.db.session() as session:
            await session.execute(delete(outbox).where(outbox.c.published_at < utcnow() - self.retention))
            await session.commit()


async def backlog(db: Database, tables: RuntimeTables) -> int:
    """Events committed but not yet on the bus (reported by ``/readyz``)."""
    outbox = tables.outbox
    async with db.session() as session:
        count = await session.scalar(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None)))
        return int(count or 0)
