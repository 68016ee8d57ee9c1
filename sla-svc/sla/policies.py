"""SLA policies as data: loaded from ``data/policies.yaml`` into an empty table,
managed by API, matched to a case by priority (the first that fits applies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import changed_rows, upsert
from services.errors import DomainError
from shared.enums import CaseKind, Category
from shared.sla import ClockSpec, PolicyIn, PolicyOut
from sla import tables as t

DEFAULT_FILE = Path(__file__).parent / "data" / "policies.yaml"


def read_file(path: Path = DEFAULT_FILE) -> list[PolicyOut]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [PolicyOut.model_validate(p) for p in data["policies"]]


async def seed(session: AsyncSession, path: Path = DEFAULT_FILE) -> None:
    if await session.scalar(select(func.count()).select_from(t.policies)):
        return
    for policy in read_file(path):
        await put(session, policy.id, policy)


async def put(session: AsyncSession, policy_id: str, body: PolicyIn) -> PolicyOut:
    values = body.model_dump(mode="json", include=set(PolicyIn.model_fields))
    stmt = upsert(session, t.policies).values(id=policy_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))
    return PolicyOut(id=policy_id, **body.model_dump(include=set(PolicyIn.model_fields)))


async def delete_policy(session: AsyncSession, policy_id: str) -> None:
    if await changed_rows(session, delete(t.policies).where(t.policies.c.id == policy_id)) == 0:
        raise DomainError(404, "no such policy")
    if not any(not p.match.model_dump(exclude_none=True) for p in await all_policies(session)):
        raise DomainError(409, "the last catch-all policy (empty match) cannot be deleted: every case needs one")


async def all_policies(session: AsyncSession) -> list[PolicyOut]:
    rows = (await session.execute(select(t.policies).order_by(t.policies.c.priority, t.policies.c.id))).mappings().all()
    return [PolicyOut.model_validate(dict(r)) for r in rows]


def is_agent_complaint(case: Any) -> bool:
    return case.kind == CaseKind.complaint and (
        case.agent_code is not None or case.category == Category.sales_agent_conduct
    )


def matching(policies: list[PolicyOut], case: Any) -> PolicyOut:
    """The first policy by priority whose conditions all hold for the case."""
    for policy in policies:
        m = policy.match
        if m.kind is not None and case.kind != m.kind:
            continue
        if m.tier is not None and case.tier != m.tier:
            continue
        if m.category is not None and case.category != m.category:
            continue
        if m.channels is not None and case.channel not in m.channels:
            continue
        if m.agent_complaint is not None and is_agent_complaint(case) != m.agent_complaint:
            continue
        return policy
    raise DomainError(500, "no policy matches; the catch-all policy is missing")


def applicable(policy: PolicyOut, case: Any) -> list[ClockSpec]:
    """The policy's clocks that apply to this case (some only to some channels)."""
    return [c for c in policy.clocks if c.channels is None or case.channel in c.channels]
