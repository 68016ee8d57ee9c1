"""The consumer's fetch wait follows its traffic (``services.kafka.FetchPace``): short
while records flow, the long default once idle; and the aiokafka internals that the
change goes through are still the ones that build each fetch request."""

from __future__ import annotations

import inspect

from aiokafka.consumer.fetcher import Fetcher

from services.kafka import FetchPace


def test_the_wait_is_short_while_records_flow_and_long_once_idle() -> None:
    pace = FetchPace(busy_ms=50, idle_ms=500, idle_after_seconds=2.0)
    assert pace.current == 500
    assert pace.after_poll(False, now=10.0) is None  # idle from the start: stays long
    assert pace.after_poll(True, now=11.0) == 50  # records: short at once
    assert pace.after_poll(True, now=11.5) is None
    assert pace.after_poll(False, now=12.9) is None  # an empty poll within the idle spell
    assert pace.after_poll(False, now=13.5) == 500  # two seconds without records
    assert pace.after_poll(False, now=20.0) is None
    assert pace.after_poll(True, now=21.0) == 50


def test_aiokafka_builds_each_fetch_request_with_the_wait_we_set() -> None:
    """``set_fetch_wait`` writes ``Fetcher._fetch_max_wait_ms``; an aiokafka release that
    stops reading it per request would make the pace a silent no-op."""
    builds_requests = inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_max_wait_ms" in builds_requests
