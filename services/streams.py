"""A lost event is never silent: each consumer checks that it has every event its
producers say they published.

Every message an outbox relay publishes carries two headers: ``producer`` (the
service) and ``producer-seq``, a number per (producer, topic) that rises by one
with each event and never changes once given (a replayed event keeps its number).
The inbox keeps both with the event id. Producers say on ``platform.watermarks``
how far each topic has got (``shared.events.Watermarks``).

Per (producer, topic) the consumer keeps a watermark, ``through``: every number up
to it has arrived. A check every few seconds moves it over the numbers that have
come in since. If numbers are still missing below what the producer announced (or
below the highest one that arrived), and ``through`` has not moved for
``grace_seconds`` while the consumer runs, the missing events are reported as a
gap: in ``/readyz``, at ERROR in the log, and to notify-svc's ops alerts, which
read ``/readyz``. Events still on their way move ``through`` and never count; a
consumer catching up after downtime keeps moving it too.

Every count starts at 1, the first number a producer gives on a topic, however
late the consumer first hears of it: a consumer added to a running system whose
broker no longer holds the oldest events is told so, and ops accept that loss
explicitly (``python -m services.streams SERVICE accept PRODUCER TOPIC``). Events
sent to the dead-letter topic count as arrived: the runner writes a marker row for
them (their own id is left free, so that a fixed handler can be fed them again).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import Database, insert_ignoring_conflicts, utcnow
from services.tables import RuntimeTables
from shared.events import Watermarks

log = logging.getLogger(__name__)

HEADER_PRODUCER = "producer"
HEADER_SEQ = "producer-seq"
#: Numbers above the watermark read in one check (a gap wider than this is reported wider).
WALK_LIMIT = 50_000
_MARKERS = uuid.UUID("5f0c1a4e-2b1d-4c52-9a57-7d1f3c0e9b21")


def stream_headers(producer: str, seq: int) -> list[tuple[str, bytes]]:
    return [(HEADER_PRODUCER, producer.encode()), (HEADER_SEQ, str(seq).encode())]


def stream_of(headers: Iterable[tuple[str, bytes]] | None) -> tuple[str, int] | None:
    """(producer, seq) from a message's headers; None for a message from elsewhere."""
    found = dict(headers or ())
    try:
        return found[HEADER_PRODUCER].decode(), int(found[HEADER_SEQ])
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


def dead_letter_marker(topic: str, producer: str, seq: int) -> str:
    """The inbox id that records a dead-lettered event as arrived (not as applied)."""
    return str(uuid.uuid5(_MARKERS, f"{producer}/{topic}/{seq}"))


@dataclass(frozen=True)
class StreamGap:
    """Events of one producer's topic that have not arrived and are not on their way."""

    producer: str
    topic: str
    through: int
    announced: int
    missing: int
    stalled_seconds: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class StreamWatch:
    """The watermarks of one consumer group, kept in its own schema."""

    def __init__(self, db: Database, tables: RuntimeTables, topics: Iterable[str], grace_seconds: float) -> None:
        self.db, self.tables = db, tables
        self.topics = set(topics)
        self.grace_seconds = grace_seconds
        self.started = time.time()
        self.gaps: list[StreamGap] = []
        self.watched = 0
        self._known: set[tuple[str, str]] = set()

    async def arrived(self, session: AsyncSession, streams: set[tuple[str, str]]) -> None:
        """Start counting each (producer, topic) heard of for the first time, from its
        first number (in the caller's transaction), and remember it: every batch used to
        insert its streams' rows again until the next ``check`` read them (7% of a
        consumer's batch, profiled). Should the caller's transaction roll back, ``check``
        (every few seconds) forgets what is not in the table, so the next arrival starts it."""
        for producer, topic in streams - self._known:
            await self._start(session, producer, topic)
            self._known.add((producer, topic))

    async def _start(self, session: AsyncSession, producer: str, topic: str) -> None:
        await session.execute(
            insert_ignoring_conflicts(session, self.tables.stream_watermarks, ["producer", "topic"]).values(
                producer=producer, topic=topic, through=0, announced=0, advanced_at=utcnow()
            )
        )

    async def dead_lettered(self, record: Any) -> None:
        """Count a dead-lettered event as arrived, under a marker id (its own stays free)."""
        stream = stream_of(record.headers)
        if stream is None:
            return
        producer, seq = stream
        async with self.db.session() as session:
            await self.arrived(session, {(producer, record.topic)})
            await session.execute(
                insert_ignoring_conflicts(session, self.tables.inbox, ["event_id"]).values(
                    event_id=dead_letter_marker(record.topic, producer, seq),
                    topic=record.topic,
                    processed_at=utcnow(),
                    producer=producer,
                    seq=seq,
                )
            )
            await session.commit()

    async def announced(self, messages: list[Watermarks]) -> None:
        """Take in what producers say they published, for the topics this group reads."""
        marks = self.tables.stream_watermarks
        async with self.db.session() as session:
            for message in messages:
                for topic, seq in message.sequences.items():
                    if topic not in self.topics:
                        continue
                    await self._start(session, message.producer, topic)
                    await session.execute(
                        update(marks)
                        .where(marks.c.producer == message.producer, marks.c.topic == topic, marks.c.announced < seq)
                        .values(announced=seq, announced_at=utcnow())
                    )
            await session.commit()

    async def check(self) -> list[StreamGap]:
        """Move each watermark over what has arrived; report what is missing and stalled."""
        marks, inbox = self.tables.stream_watermarks, self.tables.inbox
        gaps: list[StreamGap] = []
        now = utcnow()
        async with self.db.session() as session:
            rows = (await session.execute(select(marks))).all()
            self._known = {(r.producer, r.topic) for r in rows}
            for row in rows:
                seqs = (
                    await session.execute(
                        select(func.distinct(inbox.c.seq))
                        .where(inbox.c.producer == row.producer, inbox.c.topic == row.topic, inbox.c.seq > row.through)
                        .order_by(inbox.c.seq)
                        .limit(WALK_LIMIT)
                    )
                ).scalars()
                above = [int(s) for s in seqs]
                through = row.through
                while above and above[0] == through + 1:
                    through = above.pop(0)
                advanced_at = row.advanced_at
                if through != row.through:
                    advanced_at = now
                    await session.execute(
                        update(marks)
                        .where(marks.c.producer == row.producer, marks.c.topic == row.topic)
                        .values(through=through, advanced_at=now)
                    )
                top = max(row.announced, above[-1] if above else 0)
                missing = top - through - len(above)
                stalled = time.time() - max(advanced_at.timestamp(), self.started)
                if missing > 0 and stalled > self.grace_seconds:
                    gaps.append(StreamGap(row.producer, row.topic, through, top, missing, round(stalled, 1)))
            await session.commit()
        self._report(gaps)
        self.gaps, self.watched = gaps, len(rows)
        return gaps

    def _report(self, gaps: list[StreamGap]) -> None:
        before = {(g.producer, g.topic) for g in self.gaps}
        now = {(g.producer, g.topic) for g in gaps}
        for gap in gaps:
            if (gap.producer, gap.topic) not in before:
                log.error("events lost: a producer's sequence has a hole nothing is filling", extra=gap.as_dict())
        for producer, topic in before - now:
            log.info("event gap closed", extra={"producer": producer, "topic": topic})


async def accept_loss(db: Database, tables: RuntimeTables, producer: str, topic: str) -> tuple[int, int]:
    """Count everything up to what the producer announced as arrived: for a loss that ops
    have looked into and accept (events the broker no longer holds for a consumer
    added late). Returns (through before, through after)."""
    marks = tables.stream_watermarks
    async with db.session() as session:
        row = (await session.execute(select(marks).where(marks.c.producer == producer, marks.c.topic == topic))).first()
        if row is None:
            raise SystemExit(f"no stream {producer} {topic} is watched here")
        await session.execute(
            update(marks)
            .where(marks.c.producer == producer, marks.c.topic == topic)
            .values(through=max(row.through, row.announced), advanced_at=utcnow())
        )
        await session.commit()
        log.warning(
            "event loss accepted by ops", extra={"producer": producer, "topic": topic, "through": row.announced}
        )
        return int(row.through), int(max(row.through, row.announced))


async def _cli(args: argparse.Namespace) -> None:
    from services.cli import open_runtime  # the service's runtime without serving it

    async with open_runtime(args.service) as runtime:
        if args.command == "accept":
            before, after = await accept_loss(runtime.db, runtime.tables, args.producer, args.topic)
            print(f"{args.producer} {args.topic}: counted as arrived up to {after} (was {before})")
            return
        watch = StreamWatch(runtime.db, runtime.tables, [], grace_seconds=0)
        for gap in await watch.check():
            print(f"{gap.producer} {gap.topic}: {gap.missing} missing after {gap.through} (announced {gap.announced})")
        print(f"{watch.watched} streams watched")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.streams", description=__doc__)
    parser.add_argument("service")
    parser.add_argument("command", choices=["gaps", "accept"])
    parser.add_argument("producer", nargs="?")
    parser.add_argument("topic", nargs="?")
    args = parser.parse_args()
    if args.command == "accept" and not (args.producer and args.topic):
        parser.error("accept needs PRODUCER and TOPIC")
    asyncio.run(_cli(args))


if __name__ == "__main__":
    main()
