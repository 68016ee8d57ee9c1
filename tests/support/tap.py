"""An independent consumer that records every message of some topics, from the start.

It runs in its own thread and event loop, with no consumer group, so it sees the
topics as any outside reader would, and tests can wait for what they expect.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer


@dataclass(frozen=True)
class Seen:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    partition: int
    offset: int
    at: float  # time.monotonic() when the tap received it
    timestamp_ms: int = 0  # the record's own timestamp: when its producer sent it (CreateTime)

    def json(self) -> dict[str, Any]:
        assert self.value is not None
        return json.loads(self.value)  # type: ignore[no-any-return]


class TopicTap:
    """``fetch_max_wait_ms``: how long the broker may hold the tap's fetch when it has
    nothing new. Apache Kafka answers a waiting fetch as soon as a record arrives; the
    local broker holds it for the whole wait, which then adds up to that much to every
    arrival seen here. A benchmark measuring time to the bus passes a short wait, so
    that it measures the bus, not the observer's fetch hold."""

    def __init__(self, bootstrap: str, topics: list[str], fetch_max_wait_ms: int = 500) -> None:
        self.bootstrap, self.topics, self.fetch_max_wait_ms = bootstrap, topics, fetch_max_wait_ms
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> TopicTap:
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("topic tap did not get its partitions")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            request_timeout_ms=60000,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
        )
        await consumer.start()
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                if consumer.assignment():
                    self._ready.set()
                now = time.monotonic()
                with self._lock:
                    for records in batches.values():
                        for r in records:
                            headers = {k: v for k, v in (r.headers or ())}
                            self.seen.append(
                                Seen(r.topic, r.key, r.value, headers, r.partition, r.offset, now, r.timestamp)
                            )
        finally:
            await consumer.stop()

    def matching(self, predicate: Callable[[Seen], bool]) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if predicate(s)]

    def wait_for(self, predicate: Callable[[Seen], bool], count: int = 1, timeout: float = 30) -> list[Seen]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.matching(predicate)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"saw {len(found)} of {count} expected messages within {timeout}s")
            time.sleep(0.05)

    def events(self, topic: str, case_id: str) -> list[dict[str, Any]]:
        """Decoded envelopes of one case on one topic, in the order they arrived."""
        key = case_id.encode()
        return [s.json() for s in self.matching(lambda s: s.topic == topic and s.key == key)]
