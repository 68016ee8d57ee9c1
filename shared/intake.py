"""intake-svc's request and response bodies (CONTRACT.md): a case as received, as
answered, its file (notes, attachments, approvals) and its history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from shared.enums import (
    TIERS_BY_KIND,
    AgentFinding,
    ApprovalType,
    CaseKind,
    CaseStatus,
    CaseTier,
    Category,
    Channel,
    DocumentType,
    LineOfBusiness,
)
from shared.types import BranchCode, IdNumber, Phone, Ref, Strict, Text200, Text5000

#: How far in the future a client clock may be before received_at is refused.
CLOCK_SKEW = timedelta(minutes=5)


class CustomerIn(Strict):
    name: Text200
    phone: Phone
    id_number: IdNumber | None = None
    policy_no: Ref | None = Field(default=None, description="the policy the request is about")
    policy_nos: list[Ref] = Field(default_factory=list, max_length=20, description="other policies of the customer")


class ContactOut(BaseModel):
    """A customer's contact details in clear, for telling them about their case (notify-svc)."""

    case_id: uuid.UUID
    case_no: str
    name: str
    phone: str = Field(description="unmasked: only for callers allowed to read personal data")


class IdentityIn(Strict):
    """Identity verification at the counter (DOMAIN.md section 6): before policy details are shown."""

    document_type: DocumentType
    verified_by: Ref


class CaseCreate(Strict):
    """Body of ``POST /v1/cases``; unknown fields are refused so typos are not silently lost."""

    kind: CaseKind
    tier: CaseTier | None = Field(default=None, description="default: general, or major when detected")
    channel: Channel
    branch_code: BranchCode
    line_of_business: LineOfBusiness
    subject: Text200
    description: Text5000
    customer: CustomerIn
    category: Category | None = None
    complainant_count: int = Field(default=1, ge=1, le=100000)
    agent_code: Ref | None = None
    source_ref: Ref | None = Field(default=None, description="the channel's own reference (call id, referral number)")
    received_at: AwareDatetime | None = Field(default=None, description="RFC 3339 with offset; may be in the past")
    received_by: Ref | None = Field(
        default=None,
        description="staff id of who received the request (首问责任人); letters/online: the branch's designated receiver if absent",
    )
    identity: IdentityIn | None = Field(default=None, description="identity verified at intake (counter)")
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=50)

    @field_validator("received_at")
    @classmethod
    def _not_in_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("received_at is in the future")
        return value

    @field_validator("tier")
    @classmethod
    def _tier_fits_kind(cls, value: CaseTier | None, info: ValidationInfo) -> CaseTier | None:
        kind = info.data.get("kind")
        if value is not None and kind is not None and value not in TIERS_BY_KIND[kind]:
            allowed = ", ".join(TIERS_BY_KIND[kind]) or "none"
            raise ValueError(f"tier {value} does not fit kind {kind} (allowed: {allowed})")
        return value


class CustomerOut(BaseModel):
    name: str
    phone: str = Field(description="masked, e.g. 138****5678")
    id_number: str | None = Field(description="masked")
    policy_no: str | None = Field(description="withheld (null) until the customer's identity is verified")
    policy_nos: list[str] = Field(description="withheld (empty) until the customer's identity is verified")
    policy_details_withheld: bool


class IdentityOut(BaseModel):
    verified: bool
    document_type: str | None
    verified_by: str | None
    verified_at: datetime | None


class CaseOut(BaseModel):
    id: uuid.UUID
    case_no: str
    status: CaseStatus
    kind: CaseKind
    tier: CaseTier | None
    category: Category | None
    channel: Channel
    branch_code: str
    line_of_business: LineOfBusiness
    subject: str
    description: str
    customer: CustomerOut
    complainant_count: int
    agent_code: str | None
    source_ref: str | None
    major_reasons: list[str]
    category_suggested: bool = Field(description="true when intake suggested the category from the text")
    received_by: str | None
    identity: IdentityOut
    repeat_of: uuid.UUID | None = Field(
        description="the earlier complaint (same customer, same policy, 30 days) this repeats"
    )
    agent_finding: AgentFinding | None
    resolution: str | None
    satisfaction_score: int | None
    satisfaction_result: str | None
    reopen_count: int
    received_at: datetime
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class AttachmentIn(Strict):
    """Metadata of a file kept elsewhere (an object store); the file itself never passes here."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    content_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=100)]
    size_bytes: int = Field(ge=0, le=2 * 1024**3)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    storage_ref: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    added_by: Ref | None = None


class AttachmentOut(BaseModel):
    id: uuid.UUID
    name: str
    content_type: str
    size_bytes: int
    sha256: str
    storage_ref: str
    added_by: str
    added_at: datetime


class NoteIn(Strict):
    author: Ref
    text: Text5000


class NoteOut(BaseModel):
    id: int
    author: str
    text: str
    at: datetime


class ApprovalOut(BaseModel):
    id: int
    type: ApprovalType
    status: str
    reason: str
    amount: str | None
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None


class CaseDetailOut(CaseOut):
    notes: list[NoteOut]
    attachments: list[AttachmentOut]
    approvals: list[ApprovalOut]
    allowed_actions: list[str] = Field(description="lifecycle actions allowed now")


class HistoryEntry(BaseModel):
    at: datetime
    action: str
    source: str = Field(description="intake-svc, or the service whose event this is")
    actor: str | None
    from_status: str | None
    to_status: str | None
    details: dict[str, Any]
    event_id: str | None


class CasePage(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class CaseSearch(Strict):
    """``POST /v1/cases/search``: the list's filters and the customer's identifiers. A
    body, not a query string, so that phone and ID numbers never sit in a URL (proxies
    and browsers keep those); they are matched through their keyed hashes."""

    case_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    phone: Phone | None = None
    id_number: IdNumber | None = None
    policy_no: Ref | None = None
    customer_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    status: CaseStatus | None = None
    kind: CaseKind | None = None
    tier: CaseTier | None = None
    category: Category | None = None
    channel: Channel | None = None
    branch_code: BranchCode | None = None
    agent_code: Ref | None = None
    received_from: AwareDatetime | None = None
    received_to: AwareDatetime | None = None
    is_repeat: bool | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        default=None, description="words in the subject"
    )
    assignee: Ref | None = Field(default=None, description="the staff id holding the case now")
    owner: Ref | None = Field(default=None, description="the first responder's staff id (首问责任人)")
    open: bool | None = Field(default=None, description="true: not closed; false: closed")
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Annotated[str, StringConstraints(max_length=500)] | None = None


class ClassifyIn(Strict):
    """``POST /v1/cases/classify``: what intake would make of a case being typed."""

    kind: CaseKind = CaseKind.complaint
    channel: Channel
    subject: Annotated[str, StringConstraints(max_length=200)] = ""
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    complainant_count: int = Field(default=1, ge=1, le=100000)


class ClassifyOut(BaseModel):
    major_reasons: list[str] = Field(description="why a complaint would be major (重大投诉); empty when not")
    suggested_category: Category | None = Field(description="the category the text suggests")


class CaseFiguresRow(BaseModel):
    """``GET /v1/reports/cases``: one group's figures (DOMAIN.md section 7)."""

    group: str
    subgroup: str | None = Field(default=None, description="the second grouping (then_by), if asked for")
    cases: int
    complaints: int
    closed: int
    resolution_rate: float | None = Field(description="closed / cases")
    repeat_complaints: int = Field(description="complaints repeating an earlier one (same customer, policy, 30 days)")
    satisfaction_answers: int
    satisfaction_average: float | None = Field(description="average follow-up score, 1-5")
    agent_complaints: int = Field(description="complaints naming an agent")
    agent_complaints_closed: int
    misconduct_found: int = Field(description="agent complaints closed with misconduct found")
    misconduct_share: float | None = Field(description="misconduct_found / agent complaints closed")
    average_handling_hours: float | None = Field(description="received to closed, closed cases")
