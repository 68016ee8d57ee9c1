"""Managing the organisation and the rules: one document in, one document out.

``import_document`` upserts branches, units, staff and rules by their ids, so
loading a file twice changes nothing and a person's current load survives a
reload. Rules are replaced as a set when the document has any (a rule set is
read as a whole). A default rule (no conditions) must always exist, so that every
case has somewhere to go.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing import tables as t
from services.database import changed_rows, upsert
from services.errors import DomainError, field_error, field_errors
from shared.routing import OrgDocument, RuleIn, RuleOut, StaffPatch

CONDITIONS = ("kind", "tier", "category", "channel", "line_of_business", "branch_code", "agent_involved")


def read_file(path: Path) -> OrgDocument:
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    return OrgDocument.model_validate(data)


async def is_empty(session: AsyncSession) -> bool:
    return not await session.scalar(select(func.count()).select_from(t.branches))


async def _upsert(session: AsyncSession, table: Any, rows: list[dict[str, Any]], key: list[str]) -> None:
    for row in rows:
        stmt = upsert(session, table).values(**row)
        await session.execute(
            stmt.on_conflict_do_update(index_elements=key, set_={k: v for k, v in row.items() if k not in key})
        )


async def import_document(session: AsyncSession, doc: OrgDocument) -> OrgDocument:
    """Upsert a document (the whole organisation or a part); returns the whole, checked."""
    _check_references(doc)
    await _upsert(session, t.branches, [b.model_dump() for b in doc.branches], ["code"])
    units = [{**u.model_dump(), "code": f"{u.branch_code}.{u.team}"} for u in doc.units]
    await _upsert(session, t.units, units, ["code"])
    staff = [{**s.model_dump(), "skills": s.skills.model_dump(mode="json")} for s in doc.staff]
    await _upsert(session, t.staff, staff, ["id"])
    if doc.rules:
        rules = [r.model_dump(mode="json") for r in doc.rules]
        _require_default([RuleIn.model_validate({k: v for k, v in r.items() if k != "id"}) for r in rules])
        await session.execute(delete(t.rules))
        await session.execute(t.rules.insert(), rules)
    return await _check_whole(session)


async def _check_whole(session: AsyncSession) -> OrgDocument:
    """A document may hold only part of the organisation; the whole, as it now stands,
    must still be one tree (``OrgDocument``: parents agree with codes, one head office).
    Refused with a 422 (and rolled back) otherwise."""
    try:
        return await export_document(session)
    except ValidationError as exc:
        raise field_errors(
            (None, str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors(include_input=False)
        ) from exc


def _check_references(doc: OrgDocument) -> None:
    branches = {b.code for b in doc.branches}
    units = {f"{u.branch_code}.{u.team}" for u in doc.units}
    problems = [
        f"unit {u.team} names unknown branch {u.branch_code}"
        for u in doc.units
        if branches and u.branch_code not in branches
    ]
    problems += [
        f"staff {s.id} names unknown unit {s.unit_code}" for s in doc.staff if units and s.unit_code not in units
    ]
    staff = {s.id for s in doc.staff}
    problems += [
        f"branch {b.code} names unknown head {b.head}" for b in doc.branches if b.head and staff and b.head not in staff
    ]
    if problems:
        raise field_errors((None, p) for p in problems)


def _require_default(rules: list[RuleIn]) -> None:
    if not any(all(getattr(r, c) is None for c in CONDITIONS) for r in rules):
        raise field_error("rules", "a default rule (one without conditions) must exist")


async def export_document(session: AsyncSession) -> OrgDocument:
    branches = (await session.execute(select(t.branches).order_by(t.branches.c.code))).mappings().all()
    units = (await session.execute(select(t.units).order_by(t.units.c.code))).mappings().all()
    staff = (await session.execute(select(t.staff).order_by(t.staff.c.id))).mappings().all()
    rules = (await session.execute(select(t.rules).order_by(t.rules.c.priority, t.rules.c.id))).mappings().all()
    return OrgDocument.model_validate(
        {
            "branches": [dict(b) for b in branches],
            "units": [{k: v for k, v in u.items() if k != "code"} for u in units],
            "staff": [
                {k: v for k, v in s.items() if k not in ("open_cases", "load_points", "last_assigned_at")}
                for s in staff
            ],
            "rules": [dict(r) for r in rules],
        }
    )


async def patch_staff(session: AsyncSession, staff_id: str, patch: StaffPatch) -> str:
    """Apply a change; returns the person's unit (whose queue may now drain)."""
    unit = await session.scalar(select(t.staff.c.unit_code).where(t.staff.c.id == staff_id))
    if unit is None:
        raise DomainError(404, "no such staff member")
    # An explicit null clears what may be empty (capacity, e-mail) and is ignored for the rest.
    nullable = {"capacity_points", "email"}
    values = {
        k: v for k, v in patch.model_dump(exclude_unset=True, mode="json").items() if v is not None or k in nullable
    }
    if values:
        await session.execute(t.staff.update().where(t.staff.c.id == staff_id).values(**values))
    return str(unit)


async def list_rules(session: AsyncSession) -> list[RuleOut]:
    rows = (await session.execute(select(t.rules).order_by(t.rules.c.priority, t.rules.c.id))).mappings().all()
    return [RuleOut.model_validate(dict(r)) for r in rows]


async def put_rule(session: AsyncSession, rule_id: str, body: RuleIn) -> RuleOut:
    await _upsert(session, t.rules, [{"id": rule_id, **body.model_dump(mode="json")}], ["id"])
    _require_default([r for r in await list_rules(session)])
    return RuleOut(id=rule_id, **body.model_dump())


async def delete_rule(session: AsyncSession, rule_id: str) -> None:
    if await changed_rows(session, delete(t.rules).where(t.rules.c.id == rule_id)) == 0:
        raise DomainError(404, "no such rule")
    remaining = await list_rules(session)
    if not any(all(getattr(r, c) is None for c in CONDITIONS) for r in remaining):
        raise DomainError(409, "this is the last default rule; every case needs somewhere to go")
