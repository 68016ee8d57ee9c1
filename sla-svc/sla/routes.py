"""sla-svc's HTTP API: a case's clocks, what is overdue or due soon, timeliness,
clock actions (pause, resume, extend), and calendars and policies."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import Allow, Principal
from services.deps import SessionDep
from services.errors import DomainError, field_error
from shared.auth import CASE_APPROVE, CASE_READ, ORG_READ, REPORTS_READ, SLA_MANAGE
from shared.sla import (
    CalendarIn,
    CalendarOut,
    CaseSla,
    DueItem,
    ExtendIn,
    PauseIn,
    PolicyIn,
    PolicyOut,
    ResumeIn,
    TimelinessRow,
    Unit,
    WorkingDays,
    YearSchedule,
    whole_days_error,
)
from sla import actions, calendars, clocks, corrections, policies, reports
from sla.calendar import FIRST, LAST
from sla.clocks import Context
from sla.state import StateDep, reload

router = APIRouter(prefix="/v1", tags=["sla"])
Reporter = Annotated[Principal, Depends(Allow(REPORTS_READ))]
admin_router = APIRouter(prefix="/v1", tags=["calendars and policies"])
Branch = Annotated[str | None, Query(max_length=32, description="a branch and every branch under it")]
Team = Annotated[str | None, Query(max_length=100, description="the unit holding the case, e.g. GD-SZ.claims")]
Level = Annotated[str | None, Query(max_length=32, description="last level fired: warning, breach, escalation-N")]


async def current_context(state: StateDep, session: SessionDep) -> Context:
    """The calendars and policies, another replica's change brought in (``context_in``)."""
    return await state.context_in(session)


ContextDep = Annotated[Context, Depends(current_context)]


@router.get("/cases/{case_id}/sla", response_model=CaseSla, dependencies=[Depends(Allow(CASE_READ))])
async def get_case_sla(case_id: uuid.UUID, session: SessionDep, ctx: ContextDep) -> CaseSla:
    found = await reports.case_sla(session, ctx, case_id)
    if found is None:
        raise DomainError(404, "no clocks for this case (unknown case, or not yet seen)")
    return found


@router.get("/overdue", response_model=list[DueItem])
async def list_overdue(
    session: SessionDep,
    who: Reporter,
    branch_code: Branch = None,
    team: Team = None,
    level: Level = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DueItem]:
    return await reports.overdue(session, branch_code, team, level, limit, reports.scope_of(who))


@router.get("/due-soon", response_model=list[DueItem])
async def list_due_soon(
    session: SessionDep,
    who: Reporter,
    within_hours: Annotated[float, Query(gt=0, le=24 * 31)] = 24,
    branch_code: Branch = None,
    team: Team = None,
    level: Level = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DueItem]:
    within = timedelta(hours=within_hours)
    return await reports.due_soon(session, within, branch_code, team, level, limit, reports.scope_of(who))


@router.get("/timeliness", response_model=list[TimelinessRow])
async def get_timeliness(
    session: SessionDep,
    who: Reporter,
    group_by: Literal["branch", "category", "team", "clock", "policy", "month"] = "branch",
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    branch_code: Branch = None,
) -> list[TimelinessRow]:
    """Timeliness rate (及时率), breaches and average time per group, for clocks started in the period."""
    return await reports.timeliness(session, group_by, since, until, branch_code, reports.scope_of(who))


#: A clock action's body, and the action (``actions.pause``, ``resume``, ``extend``) taking it.
B = TypeVar("B", PauseIn, ResumeIn, ExtendIn)
ClockAction = Callable[[AsyncSession, clocks.Context, uuid.UUID, str, B], Awaitable[None]]


async def _clock_action(
    session: SessionDep, state: StateDep, case_id: uuid.UUID, action: ClockAction[B], clock: str, body: B
) -> CaseSla:
    ctx = await state.context_in(session)
    await action(session, ctx, case_id, clock, body)
    found = await reports.case_sla(session, ctx, case_id)
    assert found is not None
    return found


@router.post(
    "/cases/{case_id}/clocks/{clock}/pause", response_model=CaseSla, dependencies=[Depends(Allow(CASE_APPROVE))]
)
async def pause_clock(case_id: uuid.UUID, clock: str, body: PauseIn, session: SessionDep, state: StateDep) -> CaseSla:
    """External appraisal, testing or assessment: the time is not counted (the complainant is told)."""
    return await _clock_action(session, state, case_id, actions.pause, clock, body)


@router.post(
    "/cases/{case_id}/clocks/{clock}/resume", response_model=CaseSla, dependencies=[Depends(Allow(CASE_APPROVE))]
)
async def resume_clock(case_id: uuid.UUID, clock: str, body: ResumeIn, session: SessionDep, state: StateDep) -> CaseSla:
    return await _clock_action(session, state, case_id, actions.resume, clock, body)


@router.post(
    "/cases/{case_id}/clocks/{clock}/extend", response_model=CaseSla, dependencies=[Depends(Allow(CASE_APPROVE))]
)
async def extend_clock(case_id: uuid.UUID, clock: str, body: ExtendIn, session: SessionDep, state: StateDep) -> CaseSla:
    """A complex case: the next target the policy allows, with who approved and why."""
    return await _clock_action(session, state, case_id, actions.extend, clock, body)


@admin_router.get("/calendars", response_model=list[CalendarOut], dependencies=[Depends(Allow(ORG_READ))])
async def list_calendars(session: SessionDep) -> list[CalendarOut]:
    return await calendars.describe(session)


@admin_router.put("/calendars/{name}", response_model=list[CalendarOut], dependencies=[Depends(Allow(SLA_MANAGE))])
async def put_calendar(name: str, body: CalendarIn, session: SessionDep, state: StateDep) -> list[CalendarOut]:
    await calendars.put_calendar(session, name, body)
    await reload(session, state)
    return await calendars.describe(session)


@admin_router.delete("/calendars/{name}", status_code=204, dependencies=[Depends(Allow(SLA_MANAGE))])
async def delete_calendar(name: str, session: SessionDep, state: StateDep, ctx: ContextDep) -> Response:
    await calendars.delete_calendar(session, name, ctx.default_calendar)
    await reload(session, state)
    return Response(status_code=204)


@admin_router.get("/calendars/{name}/due", dependencies=[Depends(Allow(ORG_READ))])
async def compute_due(
    name: str, start: AwareDatetime, unit: Unit, amount: Annotated[float, Query(ge=0, le=10000)], ctx: ContextDep
) -> dict[str, str]:
    """When a limit counted from ``start`` ends on this calendar, and how that was counted."""
    cal = ctx.calendars.get(name)
    if cal is None:
        raise DomainError(404, "no such calendar")
    if (msg := whole_days_error(unit, amount)) is not None:
        raise field_error("amount", msg, "query")
    if not FIRST.year <= start.year <= LAST.year - 2:
        msg = f"start must be between {FIRST.year} and {LAST.year - 2}"
        raise field_error("start", msg, "query")
    try:
        due = cal.due(start, unit, amount)
    except (IndexError, ValueError, OverflowError) as exc:
        msg = f"the limit would end beyond {LAST.year}, past the calendar's tables"
        raise field_error("amount", msg, "query") from exc
    if due.year > LAST.year - 1:
        msg = f"the limit would end beyond {LAST.year}, past the calendar's tables"
        raise field_error("amount", msg, "query")
    unknown = ", ".join(map(str, cal.unknown_years(start, due)))
    provisional = ", ".join(map(str, cal.provisional_between(start, due)))
    warning = f"no schedule for {unknown}: weekends only" if unknown else ""
    if provisional and not warning:
        warning = f"provisional for {provisional}: statutory holidays only, the State Council's notice is not loaded"
    return {
        "due_at": due.isoformat(),
        "rule": cal.describe(unit, amount),
        "warning": warning,
        "provisional": provisional,
    }


@admin_router.get("/working-days", response_model=WorkingDays, dependencies=[Depends(Allow(ORG_READ))])
async def working_days(
    branch_code: Annotated[str, Query(min_length=1, max_length=32)],
    start: date,
    c: ContextDep,
    days: Annotated[int, Query(ge=1, le=370)] = 31,
) -> WorkingDays:
    """The working days among ``days`` days from ``start``, on the calendar that covers the branch."""
    cal = calendars.for_branch(c.calendars, branch_code, c.default_calendar)
    span = (start + timedelta(days=i) for i in range(days))
    return WorkingDays(
        calendar=cal.name,
        timezone=str(cal.tz),
        business_hours=[(a.strftime("%H:%M"), b.strftime("%H:%M")) for a, b in cal.business_hours],
        working_days=[d for d in span if cal.is_working_day(d)],
    )


async def _year_changed(session: SessionDep, state: StateDep, name: str) -> dict[str, int]:
    await reload(session, state)
    replanned = await corrections.replan_calendar(session, await state.context_in(session), name)
    return {"replanned_clocks": replanned}


@admin_router.put("/calendars/{name}/years/{year}", dependencies=[Depends(Allow(SLA_MANAGE))])
async def put_year(name: str, year: int, body: YearSchedule, session: SessionDep, state: StateDep) -> dict[str, int]:
    """Load or correct one year's official schedule; running clocks on the calendar are re-planned."""
    if not 2000 <= year <= 2060:
        raise field_error("year", "between 2000 and 2060", "path")
    await calendars.put_year(session, name, year, body)
    return await _year_changed(session, state, name)


@admin_router.post("/calendars/{name}/ical", dependencies=[Depends(Allow(SLA_MANAGE))])
async def import_ical(name: str, request: Request, session: SessionDep, state: StateDep) -> dict[str, int]:
    """An iCal file of all-day events: days off, and make-up working days (班/上班/补班).

    A year in which three or more of the file's holidays begin is replaced whole and
    becomes official; in a year the file only touches (元旦 beginning on 31 December)
    just the file's dates change."""
    years, whole = calendars.parse_ical(await request.body())
    for year, schedule in sorted(years.items()):
        if year in whole:
            await calendars.put_year(session, name, year, schedule)
        else:
            await calendars.put_dates(session, name, schedule)
    return {"years": len(whole), **(await _year_changed(session, state, name))}


@admin_router.get("/policies", response_model=list[PolicyOut], dependencies=[Depends(Allow(ORG_READ))])
async def list_policies(session: SessionDep) -> list[PolicyOut]:
    return await policies.all_policies(session)


@admin_router.put("/policies/{policy_id}", response_model=PolicyOut, dependencies=[Depends(Allow(SLA_MANAGE))])
async def put_policy(policy_id: str, body: PolicyIn, session: SessionDep, state: StateDep) -> PolicyOut:
    """New cases follow it; running clocks keep their plan until their case is reclassified."""
    out = await policies.put(session, policy_id, body)
    await reload(session, state)
    return out


@admin_router.delete("/policies/{policy_id}", status_code=204, dependencies=[Depends(Allow(SLA_MANAGE))])
async def delete_policy(policy_id: str, session: SessionDep, state: StateDep) -> Response:
    await policies.delete_policy(session, policy_id)
    await reload(session, state)
    return Response(status_code=204)
