"""Fixtures for sla-svc's tests: the service in-process, and events as intake and
routing would send them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.database import utcnow
from shared.events import CaseCreated, CaseTransferred, CaseUpdated
from sla import clocks, engine, transfers
from sla.firing import fire_due_timers
from sla.service import SPEC
from sla.state import state_of
from tests.support.inprocess import InProcess, running


@pytest.fixture
async def sla(backend: tuple[Path, str | None]) -> AsyncIterator[InProcess]:
    var_dir, url = backend
    async with running(SPEC, var_dir, url, timer_worker=False, owner_grace_seconds=0) as service:
        yield service


class Case:
    """One case's events, applied through the engine in their own transactions."""

    def __init__(self, sla: InProcess, **fields: Any) -> None:
        self.sla, self.id = sla, uuid.uuid4()
        values: dict[str, Any] = dict(
            case_no="GD-SZ-1",
            kind="complaint",
            tier="general",
            category="claims",
            channel="letter",
            branch_code="GD-SZ",
            line_of_business="individual_life",
            status="accepted",
            received_at=utcnow(),
        )
        values.update(fields)
        self.created = CaseCreated.model_validate(values)
        self.kind, self.tier, self.category = values["kind"], values["tier"], values["category"]

    @property
    def ctx(self) -> clocks.Context:
        return state_of(self.sla.runtime).context

    async def create(self) -> Case:
        async with self.sla.runtime.db.session() as session:
            await engine.on_created(session, self.ctx, self.id, self.created)
            await session.commit()
        return self

    async def transfer(
        self,
        kind: str = "assign",
        to_unit: str = "GD-SZ.claims",
        to_assignee: str | None = "u-sz-cl-1",
        at: datetime | None = None,
    ) -> None:
        event = CaseTransferred(
            transfer_kind=kind,
            branch_code="GD-SZ",
            from_unit=None,
            to_unit=to_unit,
            from_assignee=None,
            to_assignee=to_assignee,
            owner="u-sz-cs-2",
            reason="test",
        )
        async with self.sla.runtime.db.session() as session:
            await transfers.on_transferred_batch(session, self.ctx, [(self.id, event, at or utcnow())])
            await session.commit()

    async def act(self, action: str, status: str = "in_progress", at: datetime | None = None, **fields: Any) -> None:
        for key in ("kind", "tier", "category"):
            setattr(self, key, fields.get(key, getattr(self, key)))
        event = CaseUpdated(
            action=action,
            status=status,
            kind=self.kind,
            tier=self.tier,
            category=self.category,
            branch_code="GD-SZ",
            agent_code=fields.get("agent_code"),
            details=fields.get("details", {}),
        )
        async with self.sla.runtime.db.session() as session:
            await engine.on_updated(session, self.ctx, self.id, event, at or utcnow())
            await session.commit()

    async def clocks(self) -> dict[str, dict[str, Any]]:
        response = await self.sla.client.get(f"/v1/cases/{self.id}/sla")
        assert response.status_code == 200, response.text
        return {c["clock"]: c for c in response.json()["clocks"]}


async def fire(sla: InProcess, at: datetime | None = None, grace: timedelta = timedelta(0)) -> int:
    async with sla.runtime.db.session() as session:
        ctx = state_of(sla.runtime).context
        fired = await fire_due_timers(session, ctx, at or datetime.now(UTC), 10000, timedelta(seconds=60), grace)
        await session.commit()
        return fired


async def overdue_events(sla: InProcess, case: Case) -> list[tuple[str, str]]:
    return [
        (e["payload"]["clock"], e["payload"]["level"])
        for e in await sla.emitted("case.overdue")
        if e["case_id"] == str(case.id)
    ]
