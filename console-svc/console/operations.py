"""What a person may do to a case from its page: the lifecycle actions intake allows
now, a transfer, work order, escalation or return in routing, and a pause, resume or
extension of a clock in sla, and a note on the case. Each is offered only when the case's state allows it
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
from shared.enums import TransferKind
from shared.intake import NoteIn
from shared.routing import TransferCreate
from shared.sla import ExtendIn, PauseIn, ResumeIn

#: A transfer, a work order to a branch, an escalation (to the higher unit) and a
#: return (to the sender): one body, each its own button.
TRANSFER_KINDS = tuple(k.value for k in TransferKind if k is not TransferKind.assign)
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
    #: Body fields the operation sets itself (a transfer's kind): not in its form.
    fixed: tuple[tuple[str, str], ...] = ()

    @property
    def fields(self) -> list[FormField]:
        return [f for f in fields_of(self.body) if f.name not in dict(self.fixed)]


def operation(key: str) -> Operation | None:
    """The operation a posted form names, or None for a key that names none."""
    service, _, rest = key.partition(":")
    if service == "intake" and rest in BODIES:
        permission = CASE_APPROVE if rest in APPROVALS else CASE_ACT
        return Operation(key, "intake", f"/actions/{rest}", BODIES[rest], permission, rest)
    if service == "intake" and rest == "note":
        return Operation(key, "intake", "/notes", NoteIn, CASE_ACT, "note")
    if service == "routing" and rest in TRANSFER_KINDS:
        kind = (("kind", rest),)
        return Operation(key, "routing", "/transfers", TransferCreate, CASE_TRANSFER, rest, kind)
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
    keys = [f"intake:{name}" for name in case.get("allowed_actions", [])] + ["intake:note"]
    if assignment is not None and assignment.get("status") == "open":
        keys += [f"routing:{kind}" for kind in TRANSFER_KINDS]
    for clock in (sla or {}).get("clocks", []):
        keys += [f"sla:{clock['clock']}:{n}" for n, states in CLOCK_STATES.items() if clock["state"] in states]
    found = [op for key in keys if (op := operation(key)) is not None]
    return [op for op in found if op.permission in may]
