"""The organisation and rules as routing reads them for every case: in memory.

Rules, units and the branch tree change rarely (by API or file) and are read for
every case, so each process keeps a snapshot, reloaded when older than
``max_age`` seconds and at once after a change made through this process.
Deciding is then a pure function with no database trip, and it can explain
itself: which rules were tried, why each did or did not match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing import tables as t
from shared.org import ancestors

MATCH_FIELDS = ("kind", "tier", "category", "channel", "line_of_business", "branch_code")


@dataclass(frozen=True)
class CaseFacts:
    """What routing decides on; from ``case.created``, a stored assignment, or a draft."""

    kind: str
    tier: str | None = None
    category: str | None = None
    channel: str | None = None
    branch_code: str = ""
    line_of_business: str | None = None
    agent_code: str | None = None

    @classmethod
    def of(cls, source: Any) -> CaseFacts:
        return cls(**{f: _plain(getattr(source, f, None)) for f in (*MATCH_FIELDS, "agent_code")})


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    team: str
    description: str
    kind: str | None = None
    tier: str | None = None
    category: str | None = None
    channel: str | None = None
    line_of_business: str | None = None
    branch_code: str | None = None
    agent_involved: bool | None = None
    case_priority: int = 5
    work_order: bool = False
    inform: tuple[str, ...] = ()

    def mismatch(self, case: CaseFacts) -> str | None:
        """Why this rule does not match the case, or None when it does."""
        for name in MATCH_FIELDS:
            wanted = getattr(self, name)
            if wanted is not None and getattr(case, name) != wanted:
                return f"{name} is {getattr(case, name)}, rule wants {wanted}"
        if self.agent_involved is not None and (case.agent_code is not None) != self.agent_involved:
            return "the case names no sales agent" if self.agent_involved else "the case names a sales agent"
        return None


@dataclass(frozen=True)
class Decision:
    unit: str
    rule_id: str | None
    reason: str
    priority: int = 5
    work_order: bool = False
    inform: tuple[str, ...] = ()
    trace: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Org:
    rules: tuple[Rule, ...]
    units: frozenset[str]
    #: The branch without a parent, above every top-level branch (``shared.org``).
    head_office: str | None = None
    branches: frozenset[str] = frozenset()
    #: branch code -> the staff member designated to receive unaddressed letters and online complaints
    receivers: dict[str, str] = field(default_factory=dict)
    weights: dict[str, Mapping[str, int]] = field(default_factory=dict)

    def chain(self, branch: str | None) -> list[str]:
        """The branch and its parents up to the head office (``shared.org.ancestors``)."""
        return ancestors(branch, self.head_office, self.branches)

    def team_in_branch_or_parent(self, branch: str | None, team: str) -> str | None:
        return next((f"{b}.{team}" for b in self.chain(branch) if f"{b}.{team}" in self.units), None)

    def designated_receiver(self, branch: str | None) -> str | None:
        """The branch's designated receiver, or the nearest parent branch's."""
        return next((self.receivers[b] for b in self.chain(branch) if b in self.receivers), None)

    def higher_unit(self, unit: str) -> str | None:
        """The same team one level up (escalation), or the parent branch's service team."""
        branch, _, team = unit.partition(".")
        for parent in self.chain(branch)[1:]:
            for candidate in (f"{parent}.{team}", f"{parent}.cs"):
                if candidate in self.units:
                    return candidate
        return None

    def decide(self, case: CaseFacts, default_unit: str) -> Decision:
        """First matching rule by priority whose team exists in the case's branch or a parent."""
        trace: list[dict[str, Any]] = []
        for rule in self.rules:
            why_not = rule.mismatch(case)
            if why_not is None:
                unit = self.team_in_branch_or_parent(case.branch_code, rule.team)
                if unit is None:
                    why_not = f"no {rule.team} team in {case.branch_code} or its parents"
                else:
                    trace.append({"rule": rule.id, "matched": True, "unit": unit})
                    reason = f"rule {rule.id}: {rule.description}"
                    return Decision(
                        unit, rule.id, reason, rule.case_priority, rule.work_order, rule.inform, tuple(trace)
                    )
            trace.append({"rule": rule.id, "matched": False, "why_not": why_not})
        return Decision(default_unit, None, "no rule matched a unit of this branch: default unit", trace=tuple(trace))


def rule_from_row(r: Any) -> Rule:
    return Rule(
        id=r.id,
        priority=r.priority,
        team=r.team,
        description=r.description,
        kind=r.kind,
        tier=r.tier,
        category=r.category,
        channel=r.channel,
        line_of_business=r.line_of_business,
        branch_code=r.branch_code,
        agent_involved=r.agent_involved,
        case_priority=r.case_priority,
        work_order=r.work_order,
        inform=tuple(r.inform or ()),
    )


async def load_org(session: AsyncSession) -> Org:
    rules = (await session.execute(select(t.rules).order_by(t.rules.c.priority, t.rules.c.id))).all()
    units = (await session.execute(select(t.units.c.code, t.units.c.weights))).all()
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
        rules=tuple(rule_from_row(r) for r in rules),
        units=frozenset(u.code for u in units),
        head_office=next((b.code for b in branches if b.parent is None), None),
        branches=frozenset(b.code for b in branches),
        receivers={r.branch_code: r.id for r in receivers},  # the lowest id wins (rows come highest first)
        weights={u.code: u.weights for u in units if u.weights},
    )
