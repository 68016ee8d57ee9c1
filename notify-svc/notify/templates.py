"""Wording of notifications: Jinja2 templates per (event, channel, locale).

Shipped defaults live in ``data/templates.yaml``; ops' overrides in the
``templates`` table. Lookup falls back from the exact channel to ``*`` and from the
event to ``default``, so a new event type is never silent. Templates render in a
sandbox (ops edit them through the API) and a template that does not compile, or
fails on the sample context, is refused with 422 before it is stored.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from notify import tables as t
from services.database import upsert, utcnow
from services.errors import field_error
from shared.notify import TemplateIn, TemplateOut

DEFAULTS_FILE = Path(__file__).parent / "data" / "templates.yaml"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def _local(fmt: str) -> Any:
    """A filter showing a moment (or its ISO text) in Beijing time."""

    def show(value: Any) -> str:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(LOCAL_TZ).strftime(fmt) if isinstance(moment, datetime) else str(value or "")

    return show


ENV = SandboxedEnvironment(undefined=ChainableUndefined, autoescape=False, trim_blocks=True)
ENV.filters["localtime"] = _local("%Y-%m-%d %H:%M")
ENV.filters["localdate"] = _local("%Y-%m-%d")


@cache
def defaults() -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    shipped: dict[str, Any] = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    return shipped


def default_for(event: str, channel: str, locale: str) -> TemplateIn:
    for ev in (event, "default"):
        for ch in (channel, "*"):
            entry = defaults().get(ev, {}).get(ch, {}).get(locale)
            if entry:
                return TemplateIn(subject=entry.get("subject", ""), body=entry["body"])
    raise KeyError((event, channel, locale))


async def lookup(session: AsyncSession, event: str, channel: str, locale: str) -> TemplateOut:
    for ch in (channel, "*"):
        row = (
            await session.execute(
                select(t.templates).where(
                    t.templates.c.event == event, t.templates.c.channel == ch, t.templates.c.locale == locale
                )
            )
        ).first()
        if row:
            return TemplateOut(
                event=event, channel=channel, locale=locale, subject=row.subject, body=row.body, customised=True
            )
    base = default_for(event, channel, locale)
    return TemplateOut(event=event, channel=channel, locale=locale, customised=False, **base.model_dump())


def render(template: TemplateIn, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body); raises ``TemplateError`` for a broken template."""
    subject = ENV.from_string(template.subject).render(context).strip() if template.subject else ""
    return subject, ENV.from_string(template.body).render(context).strip()


def checked(template: TemplateIn) -> TemplateIn:
    try:
        render(template, sample_context())
    except TemplateError as exc:
        raise field_error("body", f"template error: {exc}") from exc
    return template


async def put(session: AsyncSession, event: str, channel: str, locale: str, body: TemplateIn) -> TemplateOut:
    checked(body)
    values = {"event": event, "channel": channel, "locale": locale, "subject": body.subject, "body": body.body}
    stmt = upsert(session, t.templates).values(**values, updated_at=utcnow())
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["event", "channel", "locale"],
            set_={"subject": body.subject, "body": body.body, "updated_at": utcnow()},
        )
    )
    return TemplateOut(**values, customised=True)


async def reset(session: AsyncSession, event: str, channel: str, locale: str) -> None:
    await session.execute(
        t.templates.delete().where(
            t.templates.c.event == event, t.templates.c.channel == channel, t.templates.c.locale == locale
        )
    )


def sample_context() -> dict[str, Any]:
    """A plausible case for previews and for checking templates before they are stored."""
    return {
        "case": {
            "case_id": "00000000-0000-0000-0000-000000000000",
            "case_no": "TS-20261123-000001",
            "kind": "complaint",
            "tier": "major",
            "category": "claims",
            "branch_code": "GD-SZ",
            "unit": "GD-SZ.claims",
            "assignee": "u-sz-cl-1",
            "owner": "u-sz-cs-2",
            "status": "registered",
            "major": True,
        },
        "level": "breach",
        "notification": "sla.breach",
        "payload": {
            "clock": "closure",
            "due_at": "2026-11-23T09:30:00+00:00",
            "to_unit": "GD-SZ.claims",
            "to_assignee": "u-sz-cl-1",
            "reason": "rule claims-complaint",
        },
        "event": {"type": "case.overdue", "occurred_at": "2026-11-23T09:30:01+00:00"},
        "recipient_name": "冯涛",
        "link": "http://127.0.0.1:8000/cases/00000000-0000-0000-0000-000000000000",
        "promised_by": "2026-12-07T09:30:00+00:00",
        "sign_name": "客服中心",
        "items": [{"subject": "【即将超时】TS-20261123-000001 closure"}],
    }
