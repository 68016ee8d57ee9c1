"""Fixtures for routing-svc's tests: the service in-process on the sample organisation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from routing.service import SPEC
from shared.events import CaseCreated, CaseUpdated, new_event
from tests.support.inprocess import InProcess, running


@pytest.fixture
async def routing(backend: tuple[Path, str | None]) -> AsyncIterator[InProcess]:
    var_dir, url = backend
    async with running(SPEC, var_dir, url, queue_drain_seconds=3600) as service:
        yield service


def created(kind: str = "complaint", **fields: Any) -> CaseCreated:
    values: dict[str, Any] = dict(
        case_no="X-1",
        kind=kind,
        tier="general" if kind != "grievance" else None,
        category="service_attitude",
        channel="counter",
        branch_code="GD-SZ",
        line_of_business="individual_life",
        status="accepted",
        received_at=datetime.now(UTC),
        received_by=None,
    )
    values.update(fields)
    return CaseCreated.model_validate(values)


async def deliver(
    routing: InProcess, payload: CaseCreated | CaseUpdated, case_id: uuid.UUID | None = None
) -> uuid.UUID:
    """Apply an event through the service's own handler, in its own transaction."""
    from routing.consumers import on_case_created, on_case_updated

    case_id = case_id or uuid.uuid4()
    envelope = new_event(payload, case_id=case_id, producer="intake-svc")
    handler = on_case_created if isinstance(payload, CaseCreated) else on_case_updated
    async with routing.runtime.db.session() as session:
        await handler(session, envelope, payload, routing.runtime)
        await session.commit()
    return case_id


def closed(
    kind: str = "complaint", tier: str | None = "general", category: str | None = "service_attitude"
) -> CaseUpdated:
    return updated("close", "closed", "replied", kind, tier, category)


def reopened() -> CaseUpdated:
    return updated("reopen", "in_progress", "closed")


def updated(
    action: str,
    status: str,
    previous: str,
    kind: str = "complaint",
    tier: str | None = "general",
    category: str | None = "service_attitude",
) -> CaseUpdated:
    return CaseUpdated(
        action=action,
        status=status,
        previous_status=previous,
        kind=kind,
        tier=tier,
        category=category,
        branch_code="GD-SZ",
        actor="u-1",
    )
