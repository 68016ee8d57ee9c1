"""The event envelope and each topic's payload (CONTRACT.md, "Topics").

Every event is validated when it is produced (building an ``Envelope`` runs the
payload model) and when it is consumed (``decode`` parses the envelope, then the
payload model of its type). Payloads carry no raw personal data: no ID numbers,
no phone numbers, no names, no free text a customer typed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.enums import (
    CaseKind,
    CaseStatus,
    CaseTier,
    Category,
    Channel,
    LineOfBusiness,
    OverdueLevel,
    TransferKind,
)

SCHEMA_VERSION: Literal[1] = 1


class EventType(StrEnum):
    """The case topics, named once: an envelope's ``type`` is its topic (CONTRACT.md)."""

    case_created = "case.created"
    case_transferred = "case.transferred"
    case_overdue = "case.overdue"
    case_updated = "case.updated"


class Topics:
    """Topic names; the key of every message is the case id."""

    case_created = EventType.case_created
    case_transferred = EventType.case_transferred
    case_overdue = EventType.case_overdue
    case_updated = EventType.case_updated

    all = tuple(EventType)

    #: Not a case topic: each producer's periodic word of how far it has published
    #: (``Watermarks``, keyed by the producer's name), so that a consumer can tell a
    #: lost event from one still on its way (``services.streams``).
    watermarks = "platform.watermarks"

    @staticmethod
    def dead_letter(group: str) -> str:
        """The dead-letter topic of one consumer group."""
        return f"{group}.dead-letter"


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseCreated(Payload):
    case_no: str
    kind: CaseKind
    tier: CaseTier | None
    category: Category | None
    channel: Channel
    branch_code: str
    line_of_business: LineOfBusiness
    status: CaseStatus
    received_at: AwareDatetime
    complainant_count: int = 1
    agent_code: str | None = None
    major_reasons: list[str] = Field(default_factory=list)
    received_by: str | None = Field(default=None, description="staff who received it (first responder candidate)")
    repeat_of: uuid.UUID | None = Field(default=None, description="the earlier complaint this one repeats")


class CaseTransferred(Payload):
    transfer_kind: TransferKind
    branch_code: str
    from_unit: str | None
    to_unit: str
    from_assignee: str | None
    to_assignee: str | None
    owner: str | None = Field(description="first responder (首问责任人) who owns the case")
    reason: str
    rule_id: str | None = None
    priority: int = Field(default=5, ge=1, le=9, description="1 most urgent")
    queued: bool = Field(default=False, description="no one in the unit has capacity: the case waits in its queue")
    inform: list[str] = Field(default_factory=list, description="units to tell at once (e.g. head office)")


class CaseOverdue(Payload):
    level: OverdueLevel
    clock: str
    policy: str
    branch_code: str
    kind: CaseKind
    tier: CaseTier | None
    started_at: AwareDatetime
    due_at: AwareDatetime
    late_by_seconds: int = Field(ge=0, description="how late the clock was when the event fired")
    fired_late: bool = Field(
        description="true when the timer fired after its due time by more than the poll tolerance (e.g. after downtime)"
    )
    owner: str | None
    assignee: str | None
    run: int = Field(
        default=1, ge=1, description="the clock's run: a restart (reopen with new material) starts a new one"
    )
    threshold: str | None = Field(
        default=None,
        description="which warning or escalation this is, e.g. '75% of the limit used', '1 working_days after due'",
    )
    withdrawn: list[str] = Field(
        default_factory=list, description="with level withdrawn: the levels of this run that are no longer true"
    )
    reason: str | None = Field(default=None, description="with level withdrawn: why (e.g. calendar CN corrected)")


class CaseUpdated(Payload):
    """A lifecycle action; ``details`` holds the action's facts (never personal data)."""

    action: str
    status: CaseStatus
    previous_status: CaseStatus | None = None
    kind: CaseKind
    tier: CaseTier | None
    category: Category | None
    branch_code: str
    channel: Channel | None = None
    agent_code: str | None = None
    actor: str | None = None
    details: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


PAYLOADS: dict[str, type[Payload]] = {
    Topics.case_created: CaseCreated,
    Topics.case_transferred: CaseTransferred,
    Topics.case_overdue: CaseOverdue,
    Topics.case_updated: CaseUpdated,
}


class Envelope(BaseModel):
    """The envelope of CONTRACT.md; ``payload`` is the typed model of ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID
    type: EventType
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: AwareDatetime
    case_id: uuid.UUID
    producer: str
    correlation_id: str | None = None
    payload: dict[str, Any]

    def typed_payload(self) -> Payload:
        return PAYLOADS[self.type].model_validate(self.payload)


class Watermarks(BaseModel):
    """What a producer says it has published: per topic, the last publish sequence.

    Each message a producer publishes carries the headers ``producer`` and
    ``producer-seq``: a number per (producer, topic) that rises by one with each
    event, given once, when the event is first published, and kept if it is ever
    published again. A consumer that has every number up to ``sequences[topic]``
    has missed nothing of that topic.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    producer: str
    cluster_id: str | None = Field(default=None, description="the broker cluster the producer publishes to")
    at: AwareDatetime
    sequences: dict[str, int]


class InvalidEvent(ValueError):
    """A message that can never be processed: not JSON, or not of the contract."""


def new_event(
    payload: Payload,
    *,
    case_id: uuid.UUID,
    producer: str,
    correlation_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    """Build a validated envelope; the topic is the event's type."""
    event_type = next(t for t, model in PAYLOADS.items() if isinstance(payload, model))
    return Envelope(
        event_id=uuid.uuid4(),
        type=event_type,
        occurred_at=occurred_at or datetime.now(UTC),
        case_id=case_id,
        producer=producer,
        correlation_id=correlation_id,
        payload=payload.model_dump(mode="json"),
    )


def encode(envelope: Envelope) -> bytes:
    return envelope.model_dump_json().encode()


def decode(raw: bytes | None) -> tuple[Envelope, Payload]:
    """Parse and validate a message value; raises ``InvalidEvent`` naming the fault."""
    if raw is None:
        raise InvalidEvent("message has no value")
    try:
        envelope = Envelope.model_validate_json(raw)
        return envelope, envelope.typed_payload()
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "<message>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)[:1000]
