"""How late a service's event loop runs what is due: the stall that every request in
flight waits out at once.

Why: a service answers on one event loop. Whatever holds the loop (a garbage
collection, a consumer batch's Python work between two awaits, a large encode) delays
every request then in flight by as much, and past ``MAX_IN_FLIGHT`` of them the next
is refused (``services.shedding``). Garbage collections are timed on their own
(``services.collector``); this measures stalls whatever their cause, so that a tail in
the latency can be told apart from a slow database: a task asks to wake every
``LOOP_LAG_PERIOD_SECONDS`` and records how much later than asked it ran.

Off unless that setting is given (the system bench gives 0.05). Each wake-up of an
otherwise idle process costs it CPU: at 20 a second the at-rest use of every service
rose by 0.17-0.20% of a core, at 4 a second by 0.08-0.10% (``bench.at_rest``, a slow
hour, against 0.55-0.75% without), beside a target of 0.5%. A stall longer than the
period is always seen; a shorter one of ``d`` seconds with probability ``d / period``.

Reported on ``/metrics`` (``services.metrics``): ``event_loop_lag_seconds`` (a
histogram of every wake-up's lateness) and ``event_loop_lag_max_seconds`` (the
longest since the service started).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

#: Upper bounds of the histogram's buckets, in seconds.
BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class LoopLag(Collector):
    """The lateness of each wake-up (``run``, a task of the service), for its registry."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # per bucket, the last one past every bound
        self.total = 0.0
        self.longest = 0.0

    def observe(self, late: float) -> None:
        self.total += late
        self.longest = max(self.longest, late)
        self.counts[bisect_left(BUCKETS, late)] += 1  # the first bound it is within, or past all

    async def run(self, period: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + period
            await asyncio.sleep(period)
            self.observe(max(0.0, loop.time() - due))

    def collect(self) -> Iterator[Metric]:
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, BUCKETS), "+Inf"), self.counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "event_loop_lag_seconds",
            "How much later than due the event loop ran a wake-up (services.loop_lag)",
            buckets=buckets,
            sum_value=self.total,
        )
        yield GaugeMetricFamily(
            "event_loop_lag_max_seconds",
            "The longest event loop stall seen since the service started",
            value=self.longest,
        )
