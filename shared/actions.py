"""Bodies of the lifecycle actions ``POST /v1/cases/{id}/actions/{action}``.

Every action names its actor (the staff id; the access-control issue will take it
from the caller's token) and may carry a note, kept with the case but never put in
events (it is free text and may hold personal data).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from shared.enums import AgentFinding, ApprovalType, CaseKind, CaseTier, Category, DocumentType
from shared.types import Ref, Strict, Text200, Text5000


class ActionBody(Strict):
    actor: Ref
    note: Text5000 | None = None


class Register(ActionBody):
    """立案: the complaint gets a case file; the customer is told it is accepted."""


class AnswerOnTheSpot(ActionBody):
    """An inquiry (or grievance) resolved at first contact."""


class EscalateToComplaint(ActionBody):
    reason: Text200


class Reclassify(ActionBody):
    kind: CaseKind | None = None
    tier: CaseTier | None = None
    category: Category | None = None
    reason: Text200

    @model_validator(mode="after")
    def _something_changes(self) -> Reclassify:
        if self.kind is None and self.tier is None and self.category is None:
            raise ValueError("give at least one of kind, tier, category")
        return self


class VerifyIdentity(ActionBody):
    document_type: DocumentType


class RecordOpinion(ActionBody):
    """The responsible department returned its initial opinion (DOMAIN.md section 4, step 3)."""

    department: Ref


class StartAppraisal(ActionBody):
    """External appraisal, testing or assessment starts; its time is not counted."""

    reason: Text200
    complainant_informed: Literal[True] = Field(description="the complainant must be told the time is not counted")


class EndAppraisal(ActionBody):
    """The appraisal's result is in; the clocks run again."""


class RecordContact(ActionBody):
    outcome: Literal["reached", "no_answer", "left_message"]


class RequestApproval(ActionBody):
    type: ApprovalType
    reason: Text200
    amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)


class Decide(ActionBody):
    approval_id: int | None = Field(default=None, description="default: the case's pending approval")
    decision_note: Text200 | None = None


class Reject(Decide):
    decision_note: Text200


class Reply(ActionBody):
    written: bool = Field(default=False, description="a written reply needs an approved written_reply review first")


class Close(ActionBody):
    customer_accepted: Literal[True] = Field(description="the customer accepted the final reply")
    finding: AgentFinding | None = Field(default=None, description="required when closing an agent complaint")


class Reopen(ActionBody):
    reason: Text200


class RecordSatisfaction(ActionBody):
    score: int = Field(ge=1, le=5)
    result: Text200


#: Every lifecycle action by its name in the path, with its body: the one list
#: (intake's rules of which status allows which action are in ``intake.lifecycle``;
#: the console builds each action's form from its body).
BODIES: dict[str, type[ActionBody]] = {
    "register": Register,
    "answer-on-the-spot": AnswerOnTheSpot,
    "escalate-to-complaint": EscalateToComplaint,
    "reclassify": Reclassify,
    "verify-identity": VerifyIdentity,
    "record-contact": RecordContact,
    "start-appraisal": StartAppraisal,
    "end-appraisal": EndAppraisal,
    "record-opinion": RecordOpinion,
    "request-approval": RequestApproval,
    "approve": Decide,
    "reject": Reject,
    "reply": Reply,
    "close": Close,
    "reopen": Reopen,
    "record-satisfaction": RecordSatisfaction,
}
#: Actions that decide on a case rather than work it (``case:approve``, a lead's or head's).
APPROVALS = ("approve", "reject")
