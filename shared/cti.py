"""Call events from phone systems (CTI), in this platform's format.

``POST /v1/cti/events`` takes these; ``POST /v1/cti/zammad`` takes the generic CTI
push format that Zammad documents and maps it onto the same events.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from shared.enums import CaseKind, Category, LineOfBusiness
from shared.types import BranchCode, Phone, Ref, Strict, Text200, Text5000


class WrapUp(Strict):
    """What the agent logged at the end of the call: this is what makes the call a case."""

    kind: CaseKind
    subject: Text200
    description: Text5000
    line_of_business: LineOfBusiness
    branch_code: BranchCode
    category: Category | None = None
    customer_name: Text200 = "来电客户"
    policy_no: Ref | None = None
    agent_code: Ref | None = Field(default=None, description="the sales agent complained about, if any")
    complainant_count: int = Field(default=1, ge=1, le=100000)


class CallEvent(Strict):
    event: Literal["new_call", "answered", "hangup"]
    call_id: Ref
    direction: Literal["in", "out"] = "in"
    caller: Phone | None = Field(default=None, description="the customer's number (stored encrypted)")
    called: Ref | None = Field(default=None, description="the hotline number dialled, e.g. 95519")
    agent_id: Ref | None = None
    queue: Ref | None = None
    ivr_path: list[Ref] = Field(default_factory=list, max_length=20, description="IVR menu choices, in order")
    recording_ref: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    cause: Ref | None = Field(default=None, description="hangup cause, e.g. normalClearing, noAnswer, busy, cancel")
    at: AwareDatetime | None = None
    ivr_message: bool = Field(
        default=False, description="the caller left a message with the IVR (a case without an agent)"
    )
    wrap_up: WrapUp | None = Field(default=None, description="with hangup: the agent's log; opens the case")


class CallOut(BaseModel):
    call_id: str
    state: str = Field(description="ringing | answered | ended | missed")
    caller: str | None = Field(description="masked")
    agent_id: str | None
    case_id: uuid.UUID | None
    case_no: str | None
    case_created: bool = Field(description="true when this event opened the case")
