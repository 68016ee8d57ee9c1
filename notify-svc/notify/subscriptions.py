"""Subscriptions: who wants which notifications, where. Plain functions; the caller commits.

The default escalation chain ships as built-in subscriptions (``DEFAULT_CHAIN``),
written at start-up when missing. Ops can turn each off or change its mode and
filters, but not delete it, so the chain is always visible in one list.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from notify import tables as t
from notify.directory import CaseFacts
from services.crypto import FieldCipher
from services.database import insert_ignoring_conflicts, upsert, utcnow
from services.errors import DomainError
from shared.notify import Filters, SubscriptionCreate, SubscriptionOut, SubscriptionPatch
from shared.org import in_subtree

NS = uuid.UUID("6f0c1a52-2d8e-4d3e-9d57-6c1f5e0b7a10")
#: The stamp of the subscriptions (``services.reference``). The functions here change
#: them; their callers move the stamp (``NotifyState.subscriptions.changed``), which also
#: reloads this process's copy inside the changing transaction.
SUBSCRIPTIONS = "subscriptions"

#: warning → assignee; breach → assignee and owner; escalation 1 → team lead; 2 and up →
#: branch head; a major complaint → emergency group and head office at once; customers
#: get an acknowledgement when their complaint is registered and a notice on closure.
DEFAULT_CHAIN: list[dict[str, Any]] = [
    {"name": "warning to the assignee", "events": ["sla.warning"], "recipients": ["assignee"], "mode": "digest"},
    {"name": "breach to assignee and owner", "events": ["sla.breach"], "recipients": ["assignee", "owner"]},
    # An alert no longer true (a calendar correction) is withdrawn to those who were told it.
    {"name": "withdrawn alert to assignee and owner", "events": ["sla.withdrawn"], "recipients": ["assignee", "owner"]},
    {
        "name": "withdrawn escalation 1 to the team lead",
        "events": ["sla.withdrawn"],
        "recipients": ["team_lead"],
        "filters": {"levels": ["escalation-1"]},
    },
    {
        "name": "withdrawn escalation 2 to the branch head",
        "events": ["sla.withdrawn"],
        "recipients": ["branch_head"],
        "filters": {"levels": ["escalation-2", "escalation-3"]},
    },
    {
        "name": "escalation 1 to the team lead",
        "events": ["sla.escalation"],
        "recipients": ["team_lead"],
        "filters": {"levels": ["escalation-1"]},
    },
    {
        "name": "escalation 2 to the branch head",
        "events": ["sla.escalation"],
        "recipients": ["branch_head"],
        "filters": {"levels": ["escalation-2", "escalation-3"]},
    },
    {"name": "major complaint to the emergency group", "events": ["case.major"], "recipients": ["emergency_group"]},
    {"name": "major complaint to head office", "events": ["case.major"], "recipients": ["head_office"]},
    {
        "name": "customer: complaint registered",
        "channel": "sms",
        "events": ["case.registered"],
        "recipients": ["customer"],
        "filters": {"case_kinds": ["complaint"]},
    },
    {
        "name": "customer: case closed",
        "channel": "sms",
        "events": ["case.closed"],
        "recipients": ["customer"],
        "filters": {"case_kinds": ["complaint"]},
    },
]


async def ensure_default_chain(session: AsyncSession, ops_email: str | None = None) -> None:
    now = utcnow()
    for entry in DEFAULT_CHAIN:
        body = SubscriptionCreate.model_validate({"channel": "email", **entry})
        await session.execute(
            insert_ignoring_conflicts(session, t.subscriptions, ["id"]).values(
                **_values(body), id=uuid.uuid5(NS, entry["name"]), builtin=True, created_at=now
            )
        )
    if ops_email:  # lost events, to the mailbox ops named (OPS_ALERT_EMAIL); follows the setting
        events: list[Any] = ["ops.event_gap", "ops.calendar_notice"]
        body = SubscriptionCreate(name="ops: the platform itself", channel="email", target=ops_email, events=events)
        stmt = upsert(session, t.subscriptions).values(
            **_values(body), id=uuid.uuid5(NS, "ops: events lost"), builtin=True, created_at=now
        )
        await session.execute(
            stmt.on_conflict_do_update(index_elements=["id"], set_={"target": ops_email, "events": events})
        )


def _values(body: SubscriptionCreate) -> dict[str, Any]:
    return {
        "name": body.name,
        "channel": body.channel,
        "target": body.target,
        "recipients": list(body.recipients),
        "events": list(body.events),
        "filters": body.filters.model_dump(mode="json", exclude_defaults=True),
        "mode": body.mode,
        "locale": body.locale,
        "active": True,
    }


async def create(session: AsyncSession, body: SubscriptionCreate, cipher: FieldCipher) -> SubscriptionOut:
    made_up = body.channel == "webhook" and not body.secret
    secret = secrets.token_urlsafe(32) if made_up else body.secret
    sub_id = uuid.uuid4()
    await session.execute(
        t.subscriptions.insert().values(
            **_values(body),
            id=sub_id,
            builtin=False,
            secret_enc=cipher.encrypt(secret) if secret else None,
            created_at=utcnow(),
        )
    )
    # The secret is shown once, and only when the service made it up.
    return to_out(await _row(session, sub_id), secret=secret if made_up else None)


async def _row(session: AsyncSession, sub_id: uuid.UUID) -> Row[Any]:
    row = (await session.execute(select(t.subscriptions).where(t.subscriptions.c.id == sub_id))).first()
    if row is None:
        raise DomainError(404, "no such subscription")
    return row


async def patch(session: AsyncSession, sub_id: uuid.UUID, body: SubscriptionPatch) -> SubscriptionOut:
    await _row(session, sub_id)
    # An explicit null changes nothing (every field here has a value).
    values = {k: v for k, v in body.model_dump(exclude_unset=True, mode="json").items() if v is not None}
    if "filters" in values:
        values["filters"] = body.filters.model_dump(mode="json", exclude_defaults=True) if body.filters else {}
    if values:
        await session.execute(t.subscriptions.update().where(t.subscriptions.c.id == sub_id).values(**values))
    return to_out(await _row(session, sub_id))


async def delete(session: AsyncSession, sub_id: uuid.UUID) -> None:
    row = await _row(session, sub_id)
    if row.builtin:
        raise DomainError(409, "a built-in subscription of the default chain can be turned off, not deleted")
    await session.execute(t.subscriptions.update().where(t.subscriptions.c.id == sub_id).values(active=False))


async def list_all(session: AsyncSession) -> list[SubscriptionOut]:
    rows = (await session.execute(select(t.subscriptions).order_by(t.subscriptions.c.created_at))).all()
    return [to_out(r) for r in rows]


async def active(session: AsyncSession) -> list[Row[Any]]:
    """The active subscriptions, as the fan-out keeps them (``NotifyState.subscriptions``,
    reloaded when the stamp ``SUBSCRIPTIONS`` moves: every change here is stamped by its caller)."""
    return list((await session.execute(select(t.subscriptions).where(t.subscriptions.c.active.is_(True)))).all())


def wanted(sub: Row[Any], names: list[str]) -> str | None:
    """The first of the event's notification names this subscription asks for."""
    return next((n for n in names if n in sub.events), None)


def passes(filters: dict[str, Any], case: CaseFacts, level: str | list[str] | None) -> bool:
    """``level``: the overdue level, or for a withdrawal the levels withdrawn (any may match)."""
    if (top := filters.get("branch_code")) and not in_subtree(case.branch_code, top):
        return False
    if (team := filters.get("team")) and case.unit != team:
        return False
    if filters.get("levels") and not set([level] if isinstance(level, str) else level or []) & set(filters["levels"]):
        return False
    checks = (("case_kinds", case.kind), ("categories", case.category), ("tiers", case.tier))
    return all(not filters.get(key) or value in filters[key] for key, value in checks)


def to_out(row: Row[Any], secret: str | None = None) -> SubscriptionOut:
    filters = Filters.model_validate(row.filters or {})
    return SubscriptionOut(
        id=row.id,
        name=row.name,
        channel=row.channel,
        target=row.target,
        recipients=row.recipients or [],
        events=row.events,
        filters=filters,
        branch_code=filters.branch_code,
        levels=filters.levels or None,
        mode=row.mode,
        locale=row.locale,
        builtin=row.builtin,
        active=row.active,
        created_at=row.created_at,
        secret=secret,
    )
