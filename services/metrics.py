"""``GET /metrics`` (Prometheus text format, CONTRACT.md): what an operator watches.

One registry per service (``Runtime.metrics``, made by ``create_app``), not the
client library's global one: the tests run several services in one process. What
every service reports:

- ``http_requests_total{method,route,status}`` and ``http_request_duration_seconds
  {method,route}``, observed by the edge middleware by the route's *template*
  (``/v1/cases/{case_id}``): ids and credentials in paths never become labels;
- ``http_requests_shed_total``: requests refused 503 at the in-flight limit, before
  routing (so not in ``http_requests_total``);
- ``outbox_backlog`` and ``outbox_oldest_age_seconds``: events committed and not yet
  on the bus, read from the database when scraped;
- ``consumer_lag{topic,partition}``, ``consumer_events_total{outcome}`` (applied,
  duplicate, dead_lettered), ``broker_up``: from the consumer runner and relay;
- ``gc_collections_total{generation}``, ``gc_pause_seconds_total{generation}``,
  ``gc_pause_max_seconds{generation}`` and ``gc_frozen_objects``: the process's garbage
  collections, how long they held the event loop, and what start-up froze out of their
  sight (``services.collector``);
- ``db_group_commits_total``, ``db_group_commit_writes_total`` and
  ``db_group_commit_failures_total``: requests' final writes committed together
  (``services.group_commit``; their mean group is writes over commits);
- ``event_loop_lag_seconds`` (a histogram) and ``event_loop_lag_max_seconds``: how
  late the event loop ran what was due, whatever held it (``services.loop_lag``).

A service adds its own (sla: timers and breaches; notify: deliveries and circuits)
with ``counter``/``gauge`` here, and fills scrape-time gauges in
``ServiceSpec.on_scrape``. ``deploy/prometheus/alerts.yml`` and
``deploy/grafana/dashboard.json`` use these names; a test holds them together.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.collector import GcPauseCollector, measure_pauses
from services.loop_lag import LoopLag
from services.outbox import backlog

if TYPE_CHECKING:
    from services.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = self.counter(
            "http_requests", "Requests answered, by route template and status", ("method", "route", "status")
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route template",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.shed = self.counter(
            "http_requests_shed", "Requests refused 503 at the in-flight limit (services.shedding)"
        )
        self.outbox_backlog = self.gauge("outbox_backlog", "Events committed and not yet on the bus")
        self.outbox_oldest_age = self.gauge(
            "outbox_oldest_age_seconds", "Age of the oldest event not yet on the bus (0: none)"
        )
        self.registry.register(GcPauseCollector(measure_pauses()))
        self.loop_lag = LoopLag()  # its wake-ups run as a task of the service (services.app)
        self.registry.register(self.loop_lag)

    def counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def watch(self, runtime: Runtime) -> None:
        """Report the runtime's consumer and broker state when scraped."""
        self.registry.register(_RuntimeCollector(runtime))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def refresh(runtime: Runtime) -> None:
    """The figures read from the database, just before a scrape answers."""
    async with runtime.db.session() as session:
        waiting = await backlog(session, runtime.tables)
        if runtime.spec.on_scrape is not None:
            await runtime.spec.on_scrape(runtime, session)
    runtime.metrics.outbox_backlog.set(waiting.events)
    runtime.metrics.outbox_oldest_age.set(waiting.oldest_age_seconds)


class _RuntimeCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "broker_up", "1 while the broker answers this service", value=int(self.runtime.status.up)
        )
        group = self.runtime.db.group_commit
        yield CounterMetricFamily(
            "db_group_commits", "Transactions that committed several requests' final writes together", group.groups
        )
        yield CounterMetricFamily(
            "db_group_commit_writes", "Requests' final writes committed in those groups", group.grouped_writes
        )
        yield CounterMetricFamily(
            "db_group_commit_failures",
            "Groups that failed, so that each of their writes went alone",
            group.failed_groups,
        )
        consumer = self.runtime.consumer
        if consumer is None:
            return
        events = CounterMetricFamily("consumer_events", "Events this consumer took, by outcome", labels=["outcome"])
        events.add_metric(["applied"], consumer.processed)
        events.add_metric(["duplicate"], consumer.duplicates)
        events.add_metric(["dead_lettered"], consumer.dead_lettered)
        yield events
        lag = GaugeMetricFamily("consumer_lag", "Records on the broker not yet taken", labels=["topic", "partition"])
        for (topic, partition), behind in sorted(consumer.lag_by_partition.items()):
            lag.add_metric([topic, str(partition)], behind)
        yield lag
