"""routing-svc's organisation and rules API bodies (and the org file format).

The same document is what ``PUT /v1/org`` takes, what ``GET /v1/org`` returns, and
what a YAML or JSON org file holds.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from shared.api import BranchCode, Ref, Strict, Text200
from shared.enums import CaseKind, CaseTier, Category, Channel, LineOfBusiness

Team = str


def in_subtree(branch: str | None, top: str) -> bool:
    """Branch codes extend their parent's with ``-`` (GD, GD-SZ, GD-SZ-NS): is ``branch`` ``top`` or under it?"""
    return bool(branch) and (branch == top or branch.startswith(f"{top}-"))  # type: ignore[union-attr]


WorkEmail = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class BranchIn(Strict):
    code: BranchCode
    name: Text200
    parent: BranchCode | None = None
    kind: Literal["head_office", "provincial", "city", "sub_branch", "call_centre", "branch"] = "branch"
    head: Ref | None = Field(default=None, description="staff id of the branch head (told at escalation level 2)")


class UnitIn(Strict):
    branch_code: BranchCode
    team: Ref = Field(description="e.g. cs, claims, agent-supervision, banca-liaison, hr, emergency")
    name: Text200
    capacity_points: int | None = Field(default=None, ge=1, le=100000, description="a member's capacity; default 300")
    weights: dict[str, int] | None = Field(
        default=None, description='effort points, e.g. {"complaint": 50, "complaint.major": 100}'
    )


class Skills(Strict):
    categories: list[Category] = Field(default_factory=list, description="empty: any")
    lines_of_business: list[LineOfBusiness] = Field(default_factory=list, description="empty: any")
    languages: list[str] = Field(default_factory=list)


class StaffIn(Strict):
    id: Ref
    name: Text200
    unit_code: Ref
    on_duty: bool = True
    role: Literal["member", "lead"] = "member"
    capacity_points: int | None = Field(default=None, ge=1, le=100000)
    skills: Skills = Field(default_factory=Skills)
    designated_receiver: bool = False
    email: WorkEmail | None = Field(default=None, description="work address notify-svc writes to")


class StaffPatch(Strict):
    on_duty: bool | None = None
    role: Literal["member", "lead"] | None = None
    capacity_points: int | None = Field(default=None, ge=1, le=100000)
    skills: Skills | None = None
    designated_receiver: bool | None = None
    email: WorkEmail | None = None


class RuleIn(Strict):
    priority: int = Field(ge=0, le=100000, description="lowest first; the first match wins")
    team: Ref
    description: Text200
    kind: CaseKind | None = None
    tier: CaseTier | None = None
    category: Category | None = None
    channel: Channel | None = None
    line_of_business: LineOfBusiness | None = None
    branch_code: BranchCode | None = None
    agent_involved: bool | None = Field(default=None, description="true: the case names a sales agent")
    case_priority: int = Field(default=5, ge=1, le=9)
    work_order: bool = False
    inform: list[Ref] = Field(default_factory=list, description="units told at once, e.g. HO.emergency")


class RuleOut(RuleIn):
    id: str


class RuleFileEntry(RuleIn):
    id: Ref


class OrgDocument(Strict):
    branches: list[BranchIn] = Field(default_factory=list)
    units: list[UnitIn] = Field(default_factory=list)
    staff: list[StaffIn] = Field(default_factory=list)
    rules: list[RuleFileEntry] = Field(default_factory=list)


class WorkloadOut(BaseModel):
    id: str
    name: str
    unit_code: str
    role: str
    on_duty: bool
    open_cases: int
    load_points: int
    capacity_points: int
    remaining_points: int


class QueueItemOut(BaseModel):
    case_id: uuid.UUID
    priority: int
    queued_since: datetime
    kind: str | None
    tier: str | None
    category: str | None
    weight: int


class ExplainOut(BaseModel):
    unit: str
    rule_id: str | None
    reason: str
    priority: int
    work_order: bool
    inform: list[str]
    trace: list[dict[str, Any]] = Field(description="each rule tried, in order, and why it did or did not match")
    weight: int
    candidates: list[WorkloadOut] = Field(description="who would get it, best first (on duty, skilled, with room)")
    owner_if_unattended: str | None = Field(description="the designated receiver, for a letter or online complaint")
