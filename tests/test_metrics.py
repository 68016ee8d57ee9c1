"""``GET /metrics`` (CONTRACT.md, ``services.metrics``): each service reports its requests
by route template, its outbox, and (through the pipeline test) its consumer, timers
and deliveries; no case id, personal number or credential is ever a label; and the
shipped alert rules and dashboard name only metrics that exist."""

from __future__ import annotations

import asyncio
import gc
import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from intake.service import SPEC as INTAKE
from notify.state import DeliveryMetrics
from services.collector import freeze_startup
from services.metrics import Metrics
from services.registry import ROOT
from sla.state import TimerMetrics
from tests.support.cases import complaint
from tests.support.inprocess import running

#: Families the runtime collector adds (``_RuntimeCollector``): every service's group
#: commits, and when a service consumes, its consumer's.
GROUP_COMMIT_COUNTERS = {"db_group_commits", "db_group_commit_writes", "db_group_commit_failures"}
RUNTIME_FAMILIES = {"broker_up", "consumer_events", "consumer_lag", *GROUP_COMMIT_COUNTERS}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def exposed_names() -> set[str]:
    """Every series name the services can expose (counters with ``_total``, histograms' parts)."""
    metrics = Metrics()
    TimerMetrics.of(metrics)
    DeliveryMetrics.of(metrics)
    names = {m.name for m in metrics.registry.collect()} | RUNTIME_FAMILIES
    counters = {"consumer_events", *GROUP_COMMIT_COUNTERS}
    kinds = {m.name: m.type for m in metrics.registry.collect()} | dict.fromkeys(counters, "counter")
    series = set()
    for name in names:
        if kinds.get(name) == "counter":
            series.add(f"{name}_total")
        elif kinds.get(name) == "histogram":
            series |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            series.add(name)
    return series


async def test_intake_reports_its_requests_by_route_and_its_outbox(tmp_path: Path) -> None:
    async with running(INTAKE, tmp_path, None) as intake:
        body = complaint(source_ref="metrics-1")
        made = (await intake.client.post("/v1/cases", json=body)).json()
        await intake.client.get(f"/v1/cases/{made['id']}")
        await intake.client.post("/v1/cases", json={"kind": "complaint"})  # 422
        answer = await intake.client.get("/metrics", headers={"Authorization": ""})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        seen = samples(answer.text)
    assert seen[("http_requests_total", (("method", "POST"), ("route", "/v1/cases"), ("status", "201")))] == 1
    assert seen[("http_requests_total", (("method", "POST"), ("route", "/v1/cases"), ("status", "422")))] == 1
    assert seen[("http_requests_total", (("method", "GET"), ("route", "/v1/cases/{case_id}"), ("status", "200")))] == 1
    assert seen[("http_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/cases")))] == 2
    assert seen[("outbox_backlog", ())] == 1  # the broker is unreachable here: the event waits
    assert seen[("outbox_oldest_age_seconds", ())] > 0
    assert made["id"] not in answer.text and body["customer"]["phone"] not in answer.text


def test_the_alert_rules_and_the_dashboard_name_only_metrics_that_exist() -> None:
    exposed = exposed_names()
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboard.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    promql = {"sum", "by", "rate", "increase", "deriv", "and", "or", "min_over_time", "histogram_quantile", "le"}
    for expr in exprs:
        names = set(re.findall(r"\b([a-z_]+)\b(?=\s*[{\[)]|\s*[<>=]|\s*$|\s*\))", expr)) - promql
        metric_like = {n for n in names if "_" in n and n not in ("service", "topic", "channel", "outcome", "status")}
        assert metric_like, expr
        assert metric_like <= exposed, (expr, metric_like - exposed)


async def test_garbage_collections_and_their_pauses_are_reported(tmp_path: Path) -> None:
    async with running(INTAKE, tmp_path, None) as intake:

        def scraped(text: str, name: str) -> float:
            return samples(text)[(name, (("generation", "2"),))]

        before = (await intake.client.get("/metrics", headers={"Authorization": ""})).text
        gc.collect()
        after = (await intake.client.get("/metrics", headers={"Authorization": ""})).text
    assert scraped(after, "gc_collections_total") >= scraped(before, "gc_collections_total") + 1
    assert scraped(after, "gc_pause_seconds_total") > scraped(before, "gc_pause_seconds_total")
    assert scraped(after, "gc_pause_max_seconds") > 0


def test_what_start_up_holds_is_frozen_out_of_the_collectors_sight() -> None:
    gc.unfreeze()  # what an earlier test's server froze in this process (tests run in any order)
    tracked = len(gc.get_objects())
    try:
        frozen = freeze_startup()
        assert frozen >= tracked // 2  # the test process's modules and fixtures, at least
        assert len(gc.get_objects()) < tracked - frozen // 2  # no longer walked
    finally:
        gc.unfreeze()


async def test_a_stalled_event_loop_is_reported(tmp_path: Path) -> None:
    """Something that holds the loop (here a blocking sleep, as a long stretch of Python
    between two awaits would) shows as a wake-up that late (``services.loop_lag``)."""
    import time

    async with running(INTAKE, tmp_path, None, loop_lag_period_seconds=0.05) as intake:

        def late_past(text: str, bound: str) -> float:
            seen = samples(text)
            return (
                seen[("event_loop_lag_seconds_count", ())] - seen[("event_loop_lag_seconds_bucket", (("le", bound),))]
            )

        before = (await intake.client.get("/metrics", headers={"Authorization": ""})).text
        await asyncio.sleep(0.1)
        time.sleep(0.3)  # noqa: ASYNC251 - the stall under test: a wake-up falls due in it
        await asyncio.sleep(0.1)
        after = (await intake.client.get("/metrics", headers={"Authorization": ""})).text
    assert late_past(after, "0.1") >= late_past(before, "0.1") + 1
    assert samples(after)[("event_loop_lag_max_seconds", ())] >= 0.2
