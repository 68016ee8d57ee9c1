"""Kafka clients built from settings, topic provisioning, and the broker's state.

Nothing here depends on a particular broker: production runs Apache Kafka
(``KAFKA_ENABLE_IDEMPOTENCE=true``); the local broker of ``make run`` and the tests
speaks the same protocol without an idempotent producer, so the setting is off there.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest

from services.settings import ServiceSettings

log = logging.getLogger(__name__)


def make_producer(settings: ServiceSettings, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        request_timeout_ms=settings.kafka_request_timeout_ms,
        linger_ms=2,
    )


@dataclass
class FetchPace:
    """How long the broker may hold a consumer's fetch: short while records flow, long
    once the consumer has been idle for ``idle_after_seconds``.

    Why: a consumer hop's time is mostly the broker holding a fetch. Apache Kafka
    answers a waiting fetch as soon as ``fetch.min.bytes`` (1) have arrived. The local
    broker looks at a waiting fetch only at set moments, the first at half its wait,
    so on it a record waits up to half of ``fetch_max_wait_ms`` (``bench.fetch_hold``;
    decision 0019, corrected 2026-12-04). At 200 cases/s with the default 500 ms,
    routing took a case from the local broker 150 ms (p50) after intake published it;
    with 50 ms, 13 ms (measured, issue 14). On Apache Kafka a short wait buys little:
    keep it for brokers that hold fetches. The busy wait applies while records flow and
    the idle one after ``idle_after_seconds`` without, so at rest the service stays
    quiet whatever the busy wait is."""

    busy_ms: int
    idle_ms: int
    idle_after_seconds: float = 2.0
    current: int = field(init=False)
    _last_records: float = field(init=False, default=float("-inf"))

    def __post_init__(self) -> None:
        self.current = self.idle_ms

    def after_poll(self, had_records: bool, now: float) -> int | None:
        """The new wait, if a poll at ``now`` changes it; ``None`` when it stays."""
        if had_records:
            self._last_records = now
        busy = now - self._last_records < self.idle_after_seconds
        wanted = self.busy_ms if busy else self.idle_ms
        if wanted == self.current:
            return None
        self.current = wanted
        return wanted


def set_fetch_wait(consumer: AIOKafkaConsumer, wait_ms: int) -> None:
    """Change the fetch wait of a started consumer; its next fetch request carries it.
    aiokafka reads the fetcher's ``_fetch_max_wait_ms`` as it builds each request
    (aiokafka 0.14, pinned in requirements.txt); it offers no public setter."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is not None:
        fetcher._fetch_max_wait_ms = wait_ms  # noqa: SLF001


def make_consumer(settings: ServiceSettings, group: str, topics: list[str]) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=group,
        group_id=group,
        enable_auto_commit=False,
        # A new group reads from the start: never rely on the broker's end offset.
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        rebalance_timeout_ms=settings.kafka_session_timeout_ms,
        request_timeout_ms=max(settings.kafka_request_timeout_ms, settings.kafka_session_timeout_ms + 5000),
        max_poll_records=200,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )


async def ensure_topics(settings: ServiceSettings, topics: list[str]) -> None:
    """Create the topics a service uses if missing (off where ops provisions them)."""
    if not settings.kafka_create_topics:
        return
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=settings.kafka_request_timeout_ms
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            new = [NewTopic(t, settings.kafka_partitions, settings.kafka_replication_factor) for t in missing]
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
            log.info("topics created", extra={"topics": missing})
    finally:
        await admin.close()


async def cluster_id(producer: AIOKafkaProducer) -> str | None:
    """The broker cluster's id from a metadata request (protocol v2 and later carry it).

    A new id means a different cluster, or the same one rebuilt empty (a local broker
    restarted, a Kafka cluster re-formatted): whatever was published before is not
    there. ``None`` where the broker does not say.
    """
    client = producer.client
    node = client.get_random_node()
    if node is None:
        await client.fetch_all_metadata()
        node = client.get_random_node()
    if node is None:
        return None
    response = await client.send(node, MetadataRequest([]))
    found = response.to_object().get("cluster_id")
    return str(found) if found else None


@dataclass
class BrokerStatus:
    """What the relay and the consumers last saw of the broker, for ``/readyz``."""

    up: bool = False
    last_ok: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    consumer_lag: dict[str, int] = field(default_factory=dict)
    #: The cluster the outbox publishes to, and how many retained events it published
    #: again when it found that cluster new (``OutboxRelay.check_cluster``).
    cluster_id: str | None = None
    replayed: int = 0

    def ok(self) -> None:
        self.up, self.last_ok = True, time.time()

    def failed(self, error: BaseException | str) -> None:
        self.up = False
        self.last_error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"[:300]
        self.last_error_at = time.time()

    def as_dict(self) -> dict[str, object]:
        return {
            "up": self.up,
            "last_ok_seconds_ago": None if self.last_ok is None else round(time.time() - self.last_ok, 1),
            "last_error": self.last_error,
            "cluster_id": self.cluster_id,
            "replayed": self.replayed,
        }
