"""Reading a consumer group's dead-letter topic, and putting its messages back on the
topics they came from (``python -m services.operate dead-letters|replay``; the
decisions are in that module's docstring).

The replay's position on the dead-letter topic is committed as consumer group
``<service>.replay``, by manual assignment (no group membership, so no rebalance to
wait for): what lies after it is what is still parked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from services.dead_letters import DEAD_LETTER_HEADERS
from services.kafka import make_producer
from services.settings import ServiceSettings
from shared.events import Topics

REPLAYED_FROM = "replayed-from"


@dataclass(frozen=True)
class Parked:
    """One message on a dead-letter topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        return next((v.decode("utf-8", "replace") for k, v in self.headers if k == name), "")

    @property
    def original_topic(self) -> str:
        return self.header("original-topic")

    @property
    def event_id(self) -> str:
        """The envelope's event id, when the value is an envelope at all."""
        try:
            found = json.loads(self.value)
        except ValueError:
            return ""
        return str(found.get("event_id", "")) if isinstance(found, dict) else ""

    def own_headers(self) -> list[tuple[str, bytes]]:
        """The message's headers as it was first sent (producer, sequence, trace)."""
        return [(k, v) for k, v in self.headers if k not in DEAD_LETTER_HEADERS and k != REPLAYED_FROM]

    def line(self) -> str:
        where = f"{self.partition}:{self.offset}"
        return (
            f"{where:>8}  {self.original_topic:18} event {self.event_id or '-':36}  {self.header('dead-letter-reason')}"
        )


def _consumer(settings: ServiceSettings, service: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{service}.replay",
        group_id=f"{service}.replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=settings.kafka_request_timeout_ms,
    )


async def _assigned(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The dead-letter topic's partitions, each at the replay's committed position."""
    await consumer.topics()  # fetches the metadata
    partitions = sorted(consumer.partitions_for_topic(topic) or ())
    tps = [TopicPartition(topic, p) for p in partitions]
    if not tps:
        return []
    consumer.assign(tps)
    for tp in tps:
        committed = await consumer.committed(tp)
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)
    return tps


async def _read(consumer: AIOKafkaConsumer, tps: list[TopicPartition], idle: float) -> list[Parked]:
    found: list[Parked] = []
    while tps:
        batch = await consumer.getmany(*tps, timeout_ms=int(idle * 1000))
        if not batch:
            break
        for records in batch.values():
            found += [Parked(r.partition, r.offset, r.key, r.value or b"", tuple(r.headers or ())) for r in records]
    return found


async def read(settings: ServiceSettings, service: str, idle: float) -> list[Parked]:
    """What ``service``'s consumer parked after the last replay."""
    consumer = _consumer(settings, service)
    await consumer.start()
    try:
        return await _read(consumer, await _assigned(consumer, Topics.dead_letter(service)), idle)
    finally:
        await consumer.stop()


async def replay(settings: ServiceSettings, service: str, idle: float, only: set[str], dry_run: bool) -> list[Parked]:
    """Each parked message (or those of ``only``'s event ids) back on its own topic as
    it was first sent; the position moves past them when all were replayed."""
    topic = Topics.dead_letter(service)
    consumer = _consumer(settings, service)
    await consumer.start()
    try:
        tps = await _assigned(consumer, topic)
        found = await _read(consumer, tps, idle)
        chosen = [p for p in found if p.original_topic and (not only or p.event_id in only)]
        if dry_run or not chosen:
            return chosen
        producer = make_producer(settings, f"{service}.replay")
        await producer.start()
        try:
            for p in chosen:
                headers = [*p.own_headers(), (REPLAYED_FROM, f"{topic}:{p.partition}:{p.offset}".encode())]
                await producer.send_and_wait(p.original_topic, value=p.value, key=p.key, headers=headers)
        finally:
            await producer.stop()
        if not only:
            ends: dict[TopicPartition, OffsetAndMetadata] = {}
            for p in found:
                ends[TopicPartition(topic, p.partition)] = OffsetAndMetadata(p.offset + 1, "")
            await consumer.commit(ends)
        return chosen
    finally:
        await consumer.stop()
