"""What people do to a clock through the API: pause it for an external appraisal,
resume it, extend it for a complex case (each as the policy allows, refused with a
409 that says why)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import utcnow
from services.errors import DomainError, field_error
from shared.enums import ClockState
from shared.sla import ClockSpec, ExtendIn, PauseIn, ResumeIn
from sla import clocks
from sla import tables as t
from sla.clocks import Context


async def _clock(session: AsyncSession, case_id: uuid.UUID, name: str) -> Row[Any]:
    clock = (
        await session.execute(clocks.clock_query(case_id).where(t.clocks.c.clock == name).with_for_update(of=t.clocks))
    ).first()
    if clock is None:
        raise DomainError(404, "no such clock on this case")
    return clock


async def pause(session: AsyncSession, ctx: Context, case_id: uuid.UUID, name: str, body: PauseIn) -> None:
    """External appraisal, testing or assessment: the time is not counted."""
    clock = await _clock(session, case_id, name)
    if clock.state != ClockState.running:
        raise DomainError(409, f"only a running clock can be paused; this one is {clock.state}")
    await clocks.pause_clock(session, clock, utcnow(), body.reason, body.by)


async def resume(session: AsyncSession, ctx: Context, case_id: uuid.UUID, name: str, body: ResumeIn) -> None:
    clock = await _clock(session, case_id, name)
    if clock.state != ClockState.paused:
        raise DomainError(409, f"only a paused clock can be resumed; this one is {clock.state}")
    await clocks.resume_clock(session, ctx, clock, utcnow(), body.by)


async def extend(session: AsyncSession, ctx: Context, case_id: uuid.UUID, name: str, body: ExtendIn) -> None:
    """A complex case: the next target the policy allows (15 -> 30 -> 60 calendar days)."""
    clock = await _clock(session, case_id, name)
    spec = ClockSpec.model_validate(clock.spec)
    done = len(clock.extensions)
    if done >= len(spec.extensions):
        raise DomainError(409, f"{name} allows {len(spec.extensions)} extension(s); none left")
    if clock.stopped_at is not None:
        raise DomainError(409, "the clock has stopped")
    if done >= 1 and not body.complainant_informed:
        raise field_error("complainant_informed", "a further extension requires the complainant to be informed")
    target = spec.extensions[done]
    now = utcnow()
    entry = {
        "at": now.isoformat(),
        "approved_by": body.approved_by,
        "reason": body.reason,
        "complainant_informed": body.complainant_informed,
        "to": target.model_dump(),
    }
    await session.execute(
        t.clock_plans.update().where(t.clock_plans.c.clock_id == clock.id).values(extensions=[*clock.extensions, entry])
    )
    if clock.state == ClockState.breached:
        await session.execute(
            t.clocks.update().where(t.clocks.c.id == clock.id).values(state=ClockState.running, breached_at=None)
        )
    clock = await _clock(session, case_id, name)
    change = {
        "at": now.isoformat(),
        "change": f"extended by {body.approved_by}: {body.reason}",
        "to": target.model_dump(),
    }
    await clocks.replan(session, ctx, clock, target, clock.paused_total, change)
