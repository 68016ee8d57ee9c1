"""routing-svc's request and response bodies: transfers and assignments, and the
organisation document (``PUT``/``GET /v1/org``, the org file's format) with its staff,
units and rules. The branch tree they describe is ``shared.org``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.enums import (
    CaseKind,
    CaseTier,
    Category,
    Channel,
    LineOfBusiness,
    TransferKind,
)
from shared.org import code_parent
from shared.types import BranchCode, Ref, Strict, Text200

Team = str


class TransferCreate(Strict):
    """Body of ``POST /v1/cases/{id}/transfers``."""

    to_unit: Ref | None = Field(
        default=None,
        description="required, except for a return (back to the sender) or an escalation (to the higher unit)",
    )
    to_assignee: Ref | None = Field(default=None, description="a person of to_unit; default: whoever has most capacity")
    reason: Text200
    kind: TransferKind = TransferKind.transfer
    hand_over_ownership: bool = Field(
        default=False, description="make the receiver the owner (首问责任人); otherwise the first responder stays owner"
    )

    @field_validator("kind")
    @classmethod
    def _not_assign(cls, value: TransferKind) -> TransferKind:
        if value is TransferKind.assign:
            raise ValueError("assign is the first assignment, made by routing; use transfer")
        return value


class TransferOut(BaseModel):
    id: int
    kind: TransferKind
    from_unit: str | None
    to_unit: str
    from_assignee: str | None
    to_assignee: str | None
    reason: str
    rule_id: str | None
    at: datetime


class AssignmentOut(BaseModel):
    case_id: uuid.UUID
    branch_code: str
    unit: str
    assignee: str | None = Field(description="null while the case waits in the unit's queue")
    owner: str | None = Field(description="the first responder (首问责任人)")
    status: str = Field(description="open | closed")
    queued_since: datetime | None
    priority: int
    rule_id: str | None
    history: list[TransferOut]


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

    @model_validator(mode="after")
    def parents_agree_with_codes(self) -> Self:
        """A ``parent`` that contradicts the code is refused: scope (by code) and the
        escalation chain (by parent) must be one tree. GD-SZ's parent is GD; a top-level
        code's parent is the head office, the branch without one (given here, or already
        loaded: then any top-level code without a dash is accepted as it)."""
        roots = [b.code for b in self.branches if b.parent is None]
        if len(roots) > 1:
            raise ValueError(f"only the head office has no parent; these have none: {', '.join(roots)}")
        head_office = roots[0] if roots else None
        for b in self.branches:
            if b.parent is None:
                continue
            expected = code_parent(b.code, head_office)
            top_level = "-" not in b.code
            if (top_level and (b.parent == b.code or "-" in b.parent)) or (not top_level and b.parent != expected):
                raise ValueError(
                    f"branch {b.code}: parent {b.parent} contradicts its code (its parent is "
                    f"{expected if not top_level else 'the head office'})"
                )
            if top_level and head_office is not None and b.parent != head_office:
                raise ValueError(f"branch {b.code}: parent {b.parent} is not the head office {head_office}")
        return self


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
