"""notify-svc's API bodies: subscriptions, deliveries, templates, opt-outs.

A subscription says which notifications go to whom on which channel. Either it
has a fixed ``target`` (a webhook URL, a group robot's URL, a mailbox), or it
names ``recipients`` by role, resolved per case from routing-svc's organisation
data (DOMAIN.md section 3: the first responder owns the case; leads and branch
heads are told as a case escalates). Staff are written to by e-mail at the
address the organisation data gives them; customers only by SMS, at the phone
number intake-svc holds.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from shared.enums import CaseKind, CaseTier, Category
from shared.events import EventType
from shared.types import BranchCode, Ref, Strict, Text200

#: Where a notification goes (not ``shared.enums.Channel``, where a case came from).
DeliveryChannel = Literal["webhook", "email", "wecom", "dingtalk", "slack", "teams", "sms"]
Role = Literal["assignee", "owner", "team_lead", "team", "branch_head", "emergency_group", "head_office", "customer"]
Mode = Literal["immediate", "digest"]
Locale = Literal["zh-CN", "en"]

#: What a subscription can ask for: every event of a topic, or one of the notifications
#: derived from them (the names templates are kept under).
NotificationName = Literal[
    "sla.warning",
    "sla.breach",
    "sla.withdrawn",
    "sla.escalation",
    "case.major",
    "case.registered",
    "case.closed",
    "case.assigned",
    "ops.event_gap",
    "ops.calendar_notice",
]
#: What a subscription can ask for: a notification, or any event of a topic.
EventName = NotificationName | EventType
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s]+$")]


class Filters(Strict):
    """All given conditions must hold; an empty filter matches every case."""

    branch_code: BranchCode | None = Field(default=None, description="this branch and every branch under it")
    team: Ref | None = Field(default=None, description="the unit holding the case, e.g. GD-SZ.claims")
    case_kinds: list[CaseKind] = Field(default_factory=list)
    categories: list[Category] = Field(default_factory=list)
    tiers: list[CaseTier] = Field(default_factory=list)
    levels: list[str] = Field(default_factory=list, description="overdue levels: warning, breach, escalation-N")


class SubscriptionCreate(Strict):
    name: Text200 | None = None
    channel: DeliveryChannel
    target: Url | Email | None = Field(
        default=None, description="webhook or robot URL, or a mailbox (channel email); omit when recipients are given"
    )
    recipients: list[Role] = Field(default_factory=list, description="resolved per case; channel email or sms")
    events: list[EventName] = Field(min_length=1)
    filters: Filters = Field(default_factory=Filters)
    branch_code: BranchCode | None = Field(default=None, description="shorthand for filters.branch_code")
    levels: list[str] | None = Field(default=None, description="shorthand for filters.levels")
    mode: Mode = Field(default="immediate", description="digest: gathered into business-hours summaries")
    locale: Locale = "zh-CN"
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)] | None = Field(
        default=None, description="webhook signing secret (made up when omitted) or a DingTalk robot's secret"
    )

    @model_validator(mode="after")
    def _consistent(self) -> SubscriptionCreate:
        if self.branch_code:
            self.filters.branch_code = self.branch_code
        if self.levels:
            self.filters.levels = list(self.levels)
        if (self.target is None) == (not self.recipients):
            raise ValueError("give either target or recipients")
        if self.recipients and any(e.startswith("ops.") for e in self.events):
            raise ValueError("ops alerts concern no case: give a target, not recipients")
        if self.target is not None:
            is_mail = "@" in self.target and not self.target.startswith("http")
            if self.channel == "sms":
                raise ValueError("sms goes to customers only: use recipients ['customer']")
            if (self.channel == "email") != is_mail:
                raise ValueError("target must be an e-mail address for channel email, and a URL otherwise")
        else:
            if "customer" in self.recipients and (self.channel != "sms" or len(self.recipients) > 1):
                raise ValueError("customers are told by sms, in a subscription of their own")
            if "customer" not in self.recipients and self.channel != "email":
                raise ValueError("staff recipients are told by email; robots and webhooks need a target")
        return self


class SubscriptionPatch(Strict):
    active: bool | None = None
    mode: Mode | None = None
    locale: Locale | None = None
    filters: Filters | None = None


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    name: str | None
    channel: str
    target: str | None
    recipients: list[str]
    events: list[str]
    filters: Filters
    branch_code: str | None = Field(description="same as filters.branch_code")
    levels: list[str] | None = Field(description="same as filters.levels")
    mode: str
    locale: str
    builtin: bool = Field(description="part of the default escalation chain: can be turned off, not deleted")
    active: bool
    created_at: datetime
    secret: str | None = Field(default=None, description="returned once, when the subscription is created")


class AttemptOut(BaseModel):
    attempt_no: int
    at: datetime
    status_code: int | None
    error: str | None
    latency_ms: int


class DeliveryOut(BaseModel):
    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str = Field(description="the notification: a topic name or e.g. sla.breach")
    case_id: uuid.UUID | None = Field(description="null for an ops alert about the platform (ops.event_gap)")
    channel: str
    recipient: str = Field(description="staff:<id>, customer, or subscription:<id> for a fixed target")
    mode: str
    status: str = Field(description="pending | delivered | dead | suppressed | skipped")
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None
    created_at: datetime


class TemplateIn(Strict):
    subject: Annotated[str, StringConstraints(max_length=500)] = ""
    body: Annotated[str, StringConstraints(min_length=1, max_length=20000)]


class TemplateOut(TemplateIn):
    event: str
    channel: str
    locale: str
    customised: bool = Field(description="false: the shipped default")


class PreviewIn(Strict):
    event: EventName
    channel: DeliveryChannel
    locale: Locale = "zh-CN"
    template: TemplateIn | None = Field(default=None, description="a draft to try; default: the stored template")
    context: dict[str, Any] = Field(default_factory=dict, description="overrides of the sample context")


class PreviewOut(BaseModel):
    subject: str
    body: str


class OptOutIn(Strict):
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{5,19}$")]
