"""The AsyncAPI 3 document of the topics (``shared.asyncapi``): the copy kept in the
repository is the one the models make, each producing service serves its own part,
and its schemas accept the events the code builds and refuse what breaks the
contract. The pipeline test checks every event on the bus against it too."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs

from intake.service import SPEC as INTAKE
from notify.service import SPEC as NOTIFY
from services.registry import ROOT
from shared.asyncapi import TOPICS, document
from shared.enums import CaseKind, OverdueLevel
from shared.events import PAYLOADS, CaseOverdue, Topics, encode, new_event
from tests.support.inprocess import running

KEPT = ROOT / "docs" / "asyncapi.json"


def validator(topic: str) -> Any:
    """A JSON Schema validator of ``topic``'s events, from the document."""
    name = f"{PAYLOADS[topic].__name__}Event"
    return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}", "components": document()["components"]})


def test_the_kept_document_is_the_one_the_models_make() -> None:
    kept = json.loads(KEPT.read_text())
    assert kept == json.loads(json.dumps(document())), "regenerate: python -m shared.asyncapi > docs/asyncapi.json"
    assert kept["asyncapi"].startswith("3.")
    assert set(kept["channels"]) == {*PAYLOADS, Topics.watermarks}


def test_the_schemas_accept_what_the_code_builds_and_refuse_what_breaks_the_contract() -> None:
    overdue = CaseOverdue(
        level=OverdueLevel.breach,
        clock="closure",
        policy="complaint-default",
        branch_code="GD-SZ",
        kind=CaseKind.complaint,
        tier=None,
        started_at=datetime(2026, 11, 2, 1, tzinfo=UTC),
        due_at=datetime(2026, 11, 16, 9, 30, tzinfo=UTC),
        late_by_seconds=5,
        fired_late=False,
        owner="u-sz-cs-2",
        assignee=None,
    )
    event = json.loads(encode(new_event(overdue, case_id=uuid.uuid4(), producer="sla-svc")))
    check = validator(Topics.case_overdue)
    assert check.is_valid(event), [e.message for e in check.iter_errors(event)]
    for broken in (
        {**event, "type": "case.created"},  # another topic's type
        {**event, "payload": {**event["payload"], "level": "late"}},  # not a level
        {**event, "payload": {**event["payload"], "phone": "13812345678"}},  # no field beyond the contract
        {k: v for k, v in event.items() if k != "case_id"},
    ):
        assert not check.is_valid(broken)


async def test_each_producing_service_serves_its_own_topics(tmp_path: Path) -> None:
    async with running(INTAKE, tmp_path / "i", None) as intake:
        answer = await intake.client.get("/asyncapi.json", headers={"Authorization": ""})
        assert answer.status_code == 200  # public, as /openapi.json
        served = answer.json()
        assert set(served["channels"]) == {Topics.case_created, Topics.case_updated, Topics.watermarks}
        assert {t for t, (by, _) in TOPICS.items() if by == "intake-svc"} == set(INTAKE.produces)
    async with running(NOTIFY, tmp_path / "n", None) as notify:
        assert (await notify.client.get("/asyncapi.json")).status_code == 404  # it publishes no events
