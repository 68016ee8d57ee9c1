"""What a person may do to a case from its page: the lifecycle actions intake allows
now, a transfer, work order, escalation or return in routing, and a pause, resume or
extension of a clock in sla. Each is offered only when the case's state allows it
(intake's ``allowed_actions``, the clock's state) and the person's roles do (the
permission each API checks); the API still decides, and a 409 shows what it allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from console.forms import FormField, fields_of
from shared.actions import APPROVALS, BODIES
from shared.auth import CASE_ACT, CASE_APPROVE, CASE_TRANSFER, permissions_of
from shared.routing import TransferCreate
from shared.sla import ExtendIn, PauseIn, ResumeIn

CLOCK_OPERATIONS: dict[str, type[BaseModel]] = {"pause": PauseIn, "resume": ResumeIn, "extend": ExtendIn}
#: The clock states each clock operation applies to.
CLOCK_STATES = {"pause": ("running", "breached"), "resume": ("paused",), "extend": ("running", "breached")}


@dataclass(frozen=True)
class Operation:
    key: str  # in the console's path: intake:<action>, routing:transfer, sla:<clock>:<operation>
    service: str
    path: str  # under /v1/cases/{id}
    body: type[BaseModel]
    permission: str
    label: str

    @property
    def fields(self) -> list[FormField]:
        return fields_of(self.body)


def operation(key: str) -> Operation | None:
    """The operation a posted form names, or None for a key that names none."""
    service, _, rest = key.partition(":")
    if service == "intake" and rest in BODIES:
        permission = CASE_APPROVE if rest in APPROVALS else CASE_ACT
        return Operation(key, "intake", f"/actions/{rest}", BODIES[rest], permission, rest)
    if service == "routing" and rest == "transfer":
        return Operation(key, "routing", "/transfers", TransferCreate, CASE_TRANSFER, "transfer")
    if service == "sla":
        clock, _, name = rest.partition(":")
        if clock and name in CLOCK_OPERATIONS:
            body = CLOCK_OPERATIONS[name]
            return Operation(key, "sla", f"/clocks/{clock}/{name}", body, CASE_APPROVE, f"{name} {clock}")
    return None


def offered(
    case: dict[str, Any], assignment: dict[str, Any] | None, sla: dict[str, Any] | None, roles: list[str]
) -> list[Operation]:
    may = permissions_of(roles)
    keys = [f"intake:{name}" for name in case.get("allowed_actions", [])]
    if assignment is not None and assignment.get("status") == "open":
        keys.append("routing:transfer")
    for clock in (sla or {}).get("clocks", []):
        keys += [f"sla:{clock['clock']}:{n}" for n, states in CLOCK_STATES.items() if clock["state"] in states]
    found = [op for key in keys if (op := operation(key)) is not None]
    return [op for op in found if op.permission in may]
