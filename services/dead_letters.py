"""Where a message that can never be processed goes: the consumer group's dead-letter
topic, with why in its headers (``dead-letter-reason``, the original topic, partition
and offset, the group), so that ops can read it and replay it once fixed; the runner
then moves on. Sending is retried until the broker takes it: a message is never
dropped, only parked. ``python -m services.operate replay`` puts parked messages
back on their topics once the cause is fixed.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from services.errors import database_unavailable
from services.kafka import BrokerStatus
from services.streams import StreamWatch

log = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """A lost database or broker connection: retried for as long as it takes, never
    dead-lettered. The database's part is the one classification the API's 503 uses
    (``services.errors.database_unavailable``): a consumer once dead-lettered an event
    that failed with Postgres's "terminating connection due to administrator command"
    (a restart), which that narrower check here did not know (``make faults`` lost the
    case in sla)."""
    return isinstance(exc, KafkaError | OSError) or database_unavailable(exc)


#: What the dead-letter topic adds to a message's own headers.
DEAD_LETTER_HEADERS = (
    "dead-letter-reason",
    "original-topic",
    "original-partition",
    "original-offset",
    "consumer-group",
)


def dead_letter_headers(record: ConsumerRecord[bytes, bytes], reason: str, group: str) -> list[tuple[str, bytes]]:
    """Why and from where, then the message's own headers (its producer and publish
    sequence, its trace): a replay (``python -m services.operate replay``) puts the
    message back on its topic as it was."""
    why = [reason.encode(), record.topic.encode(), str(record.partition).encode(), str(record.offset).encode()]
    return [
        *zip(DEAD_LETTER_HEADERS, [*why, group.encode()], strict=True),
        *[(k, v) for k, v in record.headers or () if k not in DEAD_LETTER_HEADERS],
    ]


class DeadLetters:
    """One consumer group's dead-letter topic, and how many it has parked there."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        group: str,
        watch: StreamWatch,
        status: BrokerStatus,
        retry_base: float,
    ) -> None:
        self.producer, self.topic, self.group = producer, topic, group
        self.watch, self.status, self.retry_base = watch, status, retry_base
        self.sent = 0

    async def send(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        """To the dead-letter topic (retried until the broker takes it), then recorded as
        arrived, so the stream check does not count it missing."""
        headers = dead_letter_headers(record, reason, self.group)
        delay = self.retry_base
        while True:
            try:
                await asyncio.wait_for(
                    self.producer.send_and_wait(self.topic, value=record.value, key=record.key, headers=headers),
                    timeout=15,
                )
                break
            except Exception as exc:  # noqa: BLE001 - the broker must take it before we move on
                self.status.failed(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.sent += 1
        log.error("message dead-lettered", extra={"topic": record.topic, "offset": record.offset, "reason": reason})
        delay = self.retry_base
        while True:  # the record that it arrived, so that a replay does not count it missing
            try:
                await self.watch.dead_lettered(record)
                return
            except Exception as exc:  # noqa: BLE001 - only a lost database lands here; retried
                if not is_transient(exc):
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
