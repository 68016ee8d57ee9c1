"""Who is who: routing-svc's organisation document, read over its API, and the
resolution of a recipient role to people for one case.

The roles (DOMAIN.md section 3 and the default escalation chain):

- ``assignee``, ``owner``: the person holding the case and its first responder.
- ``team``: every on-duty member of the unit holding the case; ``team_lead``: its
  leads, or the branch head when the unit has no lead (someone must be told).
- ``branch_head``: the head of the case's branch, or of the nearest branch above it
  that names one.
- ``emergency_group``: the members of the nearest ``emergency`` unit at or above the
  case's branch; ``head_office``: those of the head office's emergency unit and the
  head office's head.
- ``customer``: the customer of the case (SMS; the number is fetched at send time).

A role that resolves to nobody (no lead in the unit, no emergency unit) gives no
recipient; ``GET /v1/deliveries`` shows who was told.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.org import ancestors


@dataclass(frozen=True)
class CaseFacts:
    """notify's view of a case when an event arrives (table ``cases``)."""

    case_id: str
    case_no: str | None = None
    kind: str | None = None
    tier: str | None = None
    category: str | None = None
    branch_code: str | None = None
    unit: str | None = None
    assignee: str | None = None
    owner: str | None = None
    status: str | None = None
    major: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Directory:
    """An index over one organisation document (the ``GET /v1/org`` body)."""

    head: dict[str, str | None] = field(default_factory=dict)
    units: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    staff: dict[str, dict[str, Any]] = field(default_factory=dict)
    root: str | None = None

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Directory:
        d = cls()
        for b in doc.get("branches", []):
            d.head[b["code"]] = b.get("head")
            if not b.get("parent"):
                d.root = d.root or b["code"]
        for s in doc.get("staff", []):
            d.staff[s["id"]] = s
            d.units.setdefault(s["unit_code"], []).append(s)
        return d

    def ancestors(self, branch: str | None) -> list[str]:
        """The branch itself, then each parent up to head office (``shared.org.ancestors``)."""
        return ancestors(branch, self.root, self.head)

    def email(self, staff_id: str) -> str | None:
        return (self.staff.get(staff_id) or {}).get("email")

    def name(self, staff_id: str) -> str:
        return str((self.staff.get(staff_id) or {}).get("name") or staff_id)

    def resolve(self, role: str, case: CaseFacts) -> list[str]:
        """Recipient keys (``staff:<id>`` or ``customer``) for a role on this case."""
        if role == "customer":
            return ["customer"]
        return [f"staff:{i}" for i in dict.fromkeys(self.resolve_ids(role, case))]

    def resolve_ids(self, role: str, case: CaseFacts) -> list[str]:
        ids: list[str] = []
        if role in ("assignee", "owner"):
            person = case.assignee if role == "assignee" else case.owner
            ids = [person] if person else []
        elif role == "team" and case.unit:
            ids = [s["id"] for s in self.units.get(case.unit, []) if s.get("on_duty", True)]
        elif role == "team_lead":
            ids = [s["id"] for s in self.units.get(case.unit or "", []) if s.get("role") == "lead"]
            ids = ids or self.resolve_ids("branch_head", case)
        elif role == "branch_head":
            ids = next(([h] for b in self.ancestors(case.branch_code) if (h := self.head.get(b))), [])
        elif role == "emergency_group":
            ids = next(
                (
                    [s["id"] for s in members]
                    for b in self.ancestors(case.branch_code)
                    if (members := self.units.get(f"{b}.emergency"))
                ),
                [],
            )
        elif role == "head_office" and self.root:
            ids = [s["id"] for s in self.units.get(f"{self.root}.emergency", [])]
            ids += [h] if (h := self.head.get(self.root)) else []
        return ids
