"""Managers' case figures (DOMAIN.md section 7), summed by the database: volumes,
resolution, repeat complaints, satisfaction, agent complaints and the share with
misconduct found, and the average handling time, per branch, channel, category,
kind, agent or month of receipt. One ``GROUP BY`` per request; timeliness and the
time of each step are sla-svc's (``GET /v1/timeliness``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake import tables as t
from services.figures import hours_between, month_of, share
from shared.enums import AgentFinding, CaseKind, CaseStatus
from shared.intake import CaseFiguresRow
from shared.org import subtree_clause

GROUPS = ("branch", "channel", "category", "kind", "agent", "month")


def _count(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


async def case_figures(
    session: AsyncSession,
    group_by: str,
    since: datetime | None,
    until: datetime | None,
    branch: str | None,
    scope: Any,
    zone: str,
    then_by: str | None = None,
    agent_complaints_only: bool = False,
) -> list[CaseFiguresRow]:
    """One row per group (and per subgroup with ``then_by``: the monthly agent-complaint
    report is branch by channel), for cases received in ``[since, until)``."""
    c = t.cases.c
    keys = {
        "branch": c.branch_code,
        "channel": c.channel,
        "category": c.category,
        "kind": c.kind,
        "agent": c.agent_code,
        "month": month_of(session, c.received_at, zone),
    }
    key = func.coalesce(keys[group_by], "-").label("group")
    sub = func.coalesce(keys[then_by], "-").label("subgroup") if then_by else None
    grouping = [key, sub] if sub is not None else [key]
    complaint = c.kind == CaseKind.complaint
    closed = c.status == CaseStatus.closed
    agent = complaint & c.agent_code.is_not(None)
    query = (
        select(
            *grouping,
            func.count().label("cases"),
            _count(complaint).label("complaints"),
            _count(closed).label("closed"),
            _count(complaint & c.repeat_of.is_not(None)).label("repeats"),
            func.count(c.satisfaction_score).label("answers"),
            func.avg(c.satisfaction_score).label("satisfaction"),
            _count(agent).label("agent"),
            _count(agent & closed).label("agent_closed"),
            _count(agent & (c.agent_finding == AgentFinding.misconduct_found)).label("misconduct"),
            func.avg(case((closed, hours_between(session, c.received_at, c.closed_at)), else_=None)).label("hours"),
        )
        .where(scope)
        .group_by(*grouping)
        .order_by(*grouping)
    )
    if agent_complaints_only:
        query = query.where(agent)
    if since:
        query = query.where(c.received_at >= since)
    if until:
        query = query.where(c.received_at < until)
    if branch:
        query = query.where(subtree_clause(c.branch_code, branch))
    return [
        CaseFiguresRow(
            group=str(r.group),
            subgroup=str(r.subgroup) if sub is not None else None,
            cases=r.cases,
            complaints=r.complaints,
            closed=r.closed,
            resolution_rate=share(r.closed, r.cases),
            repeat_complaints=r.repeats,
            satisfaction_answers=r.answers,
            satisfaction_average=None if r.satisfaction is None else round(float(r.satisfaction), 2),
            agent_complaints=r.agent,
            agent_complaints_closed=r.agent_closed,
            misconduct_found=r.misconduct,
            misconduct_share=share(r.misconduct, r.agent_closed),
            average_handling_hours=None if r.hours is None else round(float(r.hours), 2),
        )
        for r in (await session.execute(query)).all()
    ]
