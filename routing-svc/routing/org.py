"""The organisation and rules as routing reads them for every case: in memory.

Rules, units and the branch tree change rarely (by API or seed file) and are read
for every case, so each process keeps a snapshot and reloads it when it is older
than ``max_age`` seconds. Deciding is then a pure function with no database trip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing import tables as t
from shared.events import CaseCreated


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    team: str
    description: str
    kind: str | None = None
    tier: str | None = None
    category: str | None = None
    branch_code: str | None = None

    def matches(self, case: CaseCreated) -> bool:
        wanted = {"kind": case.kind, "tier": case.tier, "category": case.category, "branch_code": case.branch_code}
        return all(getattr(self, k) is None or getattr(self, k) == v for k, v in wanted.items())


@dataclass(frozen=True)
class Decision:
    unit: str
    rule_id: str | None
    reason: str


@dataclass(frozen=True)
class Org:
    rules: tuple[Rule, ...]
    units: frozenset[str]
    parents: dict[str, str | None] = field(default_factory=dict)
    #: branch code -> the staff member designated to receive unaddressed letters and online complaints
    receivers: dict[str, str] = field(default_factory=dict)

    def designated_receiver(self, branch: str | None) -> str | None:
        """The branch's designated receiver, or the nearest parent branch's."""
        seen: set[str] = set()
        while branch and branch not in seen:
            seen.add(branch)
            if branch in self.receivers:
                return self.receivers[branch]
            branch = self.parents.get(branch)
        return None

    def team_in_branch_or_parent(self, branch: str | None, team: str) -> str | None:
        seen: set[str] = set()
        while branch and branch not in seen:
            seen.add(branch)
            if f"{branch}.{team}" in self.units:
                return f"{branch}.{team}"
            branch = self.parents.get(branch)
        return None

    def decide(self, case: CaseCreated, default_unit: str) -> Decision:
        """First matching rule by priority; its team in the case's branch or the nearest parent."""
        for rule in self.rules:
            if rule.matches(case):
                unit = self.team_in_branch_or_parent(case.branch_code, rule.team)
                if unit is not None:
                    return Decision(unit, rule.id, f"rule {rule.id}: {rule.description}")
        return Decision(default_unit, None, "no rule matched a unit of this branch: default unit")


async def load_org(session: AsyncSession) -> Org:
    rules = (await session.execute(select(t.rules).order_by(t.rules.c.priority, t.rules.c.id))).all()
    units = (await session.scalars(select(t.units.c.code))).all()
    branches = (await session.execute(select(t.branches.c.code, t.branches.c.parent))).all()
    receivers = (
        await session.execute(
            select(t.units.c.branch_code, t.staff.c.id)
            .join(t.staff, t.staff.c.unit_code == t.units.c.code)
            .where(t.staff.c.designated_receiver.is_(True))
            .order_by(t.staff.c.id.desc())
        )
    ).all()
    return Org(
        rules=tuple(
            Rule(r.id, r.priority, r.team, r.description, r.kind, r.tier, r.category, r.branch_code) for r in rules
        ),
        units=frozenset(units),
        parents={b.code: b.parent for b in branches},
        receivers={r.branch_code: r.id for r in receivers},  # the lowest id wins (rows come highest first)
    )


class OrgCache:
    def __init__(self, max_age: float = 5.0) -> None:
        self.max_age = max_age
        self._org: Org | None = None
        self._loaded = 0.0

    async def get(self, session: AsyncSession) -> Org:
        if self._org is None or time.monotonic() - self._loaded > self.max_age:
            self._org = await load_org(session)
            self._loaded = time.monotonic()
        return self._org

    def invalidate(self) -> None:
        self._org = None
