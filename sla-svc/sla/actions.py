"""What people do to a clock through the API: pause it for an external appraisal,
resume it, extend it for a complex case (each as the policy allows, refused with a
409 that says why)."""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from services.database import utcnow
from services.errors import DomainError, field_error
from shared.enums import ClockState
from shared.sla import ExtendIn, PauseIn, ResumeIn
from sla import clocks
from sla import tables as t
from sla.clock import Clock, clock_query
from sla.clocks import Context


async def _clock(session: AsyncSession, case_id: uuid.UUID, name: str) -> Clock:
    row = (
        await session.execute(clock_query(case_id).where(t.clocks.c.clock == name).with_for_update(of=t.clocks))
    ).first()
    if row is None:
        raise DomainError(404, "no such clock on this case")
    return Clock.of(row)


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
    spec = clock.spec
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
    extended = replace(clock, extensions=(*clock.extensions, entry))
    if clock.state == ClockState.breached:  # the new limit is ahead: the clock runs again
        extended = replace(extended, state=ClockState.running, breached_at=None)
    change = {
        "at": now.isoformat(),
        "change": f"extended by {body.approved_by}: {body.reason}",
        "to": target.model_dump(),
    }
    await clocks.replan(session, ctx, extended, target, clock.paused_total, change)
