"""Python's cyclic garbage collector in a service process: what start-up leaves is
frozen out of its sight, and every collection's pause is measured.

Why: a service answers requests on one event loop, and a collection holds that loop.
The young generations are small and cheap (under 3 ms each). A full collection walks
every object the collector tracks, and after start-up that is mostly what the process
keeps until it exits: modules, the app and its routes, pydantic's and SQLAlchemy's
structures, pools and clients, ~140,000 objects in intake. In-process (3,000 cases,
``gc.callbacks``) a full collection took 74-107 ms, a pause that every request in
flight waited out; at 200-300 cases/s that is 15-30 requests late at once, and the
tail of intake's latency (issue 14).

``freeze_startup`` collects once, then moves everything left into the permanent
generation (``gc.freeze``), which collections never walk; a full collection then took
6-10 ms in the same runs. Objects made after start-up are collected as before, and a
frozen object that later becomes garbage is freed by reference counting as usual; only
a cycle among frozen objects would stay, and start-up makes none that it later drops.

``GcPauses`` times each collection (``gc.callbacks``) and ``GcPauseCollector`` reports
them on ``/metrics``: ``gc_collections_total{generation}``,
``gc_pause_seconds_total{generation}``, ``gc_pause_max_seconds{generation}`` (since
start-up ended) and ``gc_frozen_objects``, so that a pause long enough to show in the
latency shows here too.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

GENERATIONS = (0, 1, 2)
#: This process's pause measure (``measure_pauses``): the collector is one per process.
_process_pauses: GcPauses | None = None


def freeze_startup() -> int:
    """Collect, then freeze what survives (once the service has started); returns how
    many objects are now frozen. The longest pauses measured so far (start-up's, this
    collection's) are forgotten: ``gc_pause_max_seconds`` is about serving."""
    gc.collect()
    gc.freeze()
    if _process_pauses is not None:
        _process_pauses.longest = [0.0, 0.0, 0.0]
    return gc.get_freeze_count()


@dataclass
class GcPauses:
    """Counts and times the collector's runs in this process, per generation."""

    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    seconds: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    longest: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        generation = int(info["generation"])
        self.collections[generation] += 1
        self.seconds[generation] += took
        self.longest[generation] = max(self.longest[generation], took)


def measure_pauses() -> GcPauses:
    """The process's one ``GcPauses``, hooked into the collector on first use."""
    global _process_pauses  # noqa: PLW0603 - one collector per process, so one hook
    if _process_pauses is None:
        _process_pauses = GcPauses()
        gc.callbacks.append(_process_pauses)
    return _process_pauses


class GcPauseCollector(Collector):
    """The process's collections and their pauses, for a service's registry."""

    def __init__(self, pauses: GcPauses) -> None:
        self.pauses = pauses

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily("gc_collections", "Garbage collections, by generation", labels=["generation"])
        spent = CounterMetricFamily(
            "gc_pause_seconds", "Time the event loop was held by garbage collections", labels=["generation"]
        )
        longest = GaugeMetricFamily(
            "gc_pause_max_seconds",
            "The longest garbage collection since start-up ended, by generation",
            labels=["generation"],
        )
        for g in GENERATIONS:
            runs.add_metric([str(g)], self.pauses.collections[g])
            spent.add_metric([str(g)], self.pauses.seconds[g])
            longest.add_metric([str(g)], self.pauses.longest[g])
        frozen = GaugeMetricFamily(
            "gc_frozen_objects", "Objects frozen out of the collector's sight at start-up", value=gc.get_freeze_count()
        )
        yield from (runs, spent, longest, frozen)
