"""Fixtures for notify-svc's tests: notify in-process, routing-svc serving the sample
organisation on a real port (notify reads it over HTTP, as in production), local
receivers for every channel, and events as the other services send them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from notify import tables as t
from notify.service import SPEC
from notify.state import state_of
from routing.service import SPEC as ROUTING
from services.database import utcnow
from shared.events import CaseCreated, CaseOverdue, CaseTransferred, CaseUpdated, Envelope, new_event
from tests.support.inprocess import InProcess, running, serving
from tests.support.receiver import SmtpReceiver, WebhookReceiver
from tests.support.wait import until

FAST = dict(
    delivery_poll_seconds=0.05,
    delivery_retry_base_seconds=0.05,
    delivery_retry_max_seconds=0.2,
    directory_refresh_seconds=3600,
)


@pytest.fixture
async def routing(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with serving(ROUTING, tmp_path / "routing", None) as service:
        yield service


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(reply={"errcode": 0, "errmsg": "ok"}).start()
    yield receiver
    receiver.stop()


async def start_notify(
    backend: tuple[Path, str | None], routing: InProcess, smtp: SmtpReceiver, **overrides: Any
) -> Any:
    var_dir, url = backend
    settings = {**FAST, "routing_url": routing.url, "smtp_host": "127.0.0.1", "smtp_port": smtp.port, **overrides}
    return running(SPEC, var_dir, url, **settings)


@pytest.fixture
async def notify(backend: tuple[Path, str | None], routing: InProcess, smtp: SmtpReceiver) -> AsyncIterator[InProcess]:
    async with await start_notify(backend, routing, smtp) as service:
        await until(lambda: _has_directory(service), what="organisation read from routing-svc")
        yield service


async def _has_directory(service: InProcess) -> bool:
    return state_of(service.runtime).directory is not None


class CaseEvents:
    """One case's events as intake, routing and sla would publish them."""

    def __init__(self, branch_code: str = "GD-SZ", tier: str = "general", kind: str = "complaint") -> None:
        self.id = uuid.uuid4()
        self.branch_code, self.tier, self.kind = branch_code, tier, kind
        self.case_no = f"TS-{self.id.hex[:8]}"

    def _event(self, payload: Any, producer: str) -> Envelope:
        return new_event(payload, case_id=self.id, producer=producer)

    def created(self, major: bool = False) -> Envelope:
        return self._event(
            CaseCreated(
                case_no=self.case_no,
                kind=self.kind,
                tier=self.tier,
                category="claims",
                channel="hotline",
                branch_code=self.branch_code,
                line_of_business="individual_life",
                status="accepted",
                received_at=utcnow(),
                major_reasons=["media attention"] if major else [],
            ),
            "intake-svc",
        )

    def transferred(self, to_unit: str, to_assignee: str | None, owner: str = "u-sz-cs-2") -> Envelope:
        return self._event(
            CaseTransferred(
                transfer_kind="assign",
                branch_code=self.branch_code,
                from_unit=None,
                to_unit=to_unit,
                from_assignee=None,
                to_assignee=to_assignee,
                owner=owner,
                reason="rule claims-complaint",
            ),
            "routing-svc",
        )

    def overdue(
        self, level: str, owner: str = "u-sz-cs-2", assignee: str | None = "u-sz-cl-1", **more: Any
    ) -> Envelope:
        now = utcnow()
        return self._event(
            CaseOverdue(
                level=level,
                clock="closure",
                policy="general-complaint",
                branch_code=self.branch_code,
                kind=self.kind,
                tier=self.tier,
                started_at=now,
                due_at=now,
                late_by_seconds=0,
                fired_late=False,
                owner=owner,
                assignee=assignee,
                **more,
            ),
            "sla-svc",
        )

    def updated(self, action: str, status: str) -> Envelope:
        return self._event(
            CaseUpdated(
                action=action,
                status=status,
                kind=self.kind,
                tier=self.tier,
                category="claims",
                branch_code=self.branch_code,
            ),
            "intake-svc",
        )


async def deliveries_of(service: InProcess, case_id: uuid.UUID) -> list[Any]:
    async with service.runtime.db.session() as session:
        return list((await session.execute(select(t.deliveries).where(t.deliveries.c.case_id == case_id))).all())
