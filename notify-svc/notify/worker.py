"""The delivery worker: claims due deliveries, works out address and wording, sends.

Per group of claimed deliveries (one, or a recipient's digest):

1. the address: a subscription's fixed target, a staff member's e-mail from the
   organisation, or the customer's phone number read from intake-svc at this
   moment (never stored here, never logged); an opted-out customer is
   ``suppressed``;
2. the message: the envelope for webhooks, a rendered template otherwise;
3. the target's circuit: while open, the deliveries wait without using attempts;
4. one attempt, recorded on every delivery of the group.

Anything that stops step 1 or 2 for now (intake or sla not answering) is recorded
as a failed attempt and retried with backoff like a failed send.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from jinja2 import TemplateError
from opentelemetry.trace import Span, SpanKind, StatusCode
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from notify import deliveries, templates
from notify import tables as t
from notify.channels import Outcome, Outgoing
from notify.deliveries import Claimed
from notify.peers import PeerError
from notify.state import state_of
from services import failpoints, tracing
from services.database import utcnow
from services.runtime import Runtime

log = logging.getLogger(__name__)
TEAM = {"zh-CN": "各位同事", "en": "Team"}
WAKE_COALESCE_SECONDS = 0.05


@dataclass(frozen=True)
class Settle:
    status: str
    reason: str


async def circuits_now(runtime: Runtime, _session: AsyncSession) -> None:
    """``ServiceSpec.on_scrape``: open circuits by channel (a circuit's key begins with its channel)."""
    state = state_of(runtime)
    open_now = Counter(key.split(":", 1)[0] for key in state.breakers.open_circuits())
    state.metrics.circuits_open.clear()
    for channel, n in open_now.items():
        state.metrics.circuits_open.labels(channel).set(n)


async def delivery_worker(runtime: Runtime) -> None:
    s = state_of(runtime).settings
    if not s.delivery_worker:
        return
    added = runtime.db.wakeups.signal("deliveries")  # set by commits that add deliveries
    while True:
        added.clear()  # before looking: deliveries added during this round wake the next
        wait = s.delivery_poll_seconds
        try:
            async with runtime.db.session() as session:
                claimed = await deliveries.claim_due(
                    session, utcnow(), s.delivery_batch_size, timedelta(seconds=s.delivery_lease_seconds)
                )
                upcoming = None if claimed else await deliveries.next_due(session)
                await session.commit()
            if claimed:
                await asyncio.gather(*(_deliver(runtime, g) for g in deliveries.groups(claimed)))
                continue
            if upcoming is not None:  # a retry or a digest slot: sleep until it, not a poll past it
                wait = min(max((upcoming - utcnow()).total_seconds(), 0.005), s.delivery_poll_seconds)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - database away: next round
            log.warning("delivery round failed", exc_info=True)
        if await added.wait(wait):
            await asyncio.sleep(WAKE_COALESCE_SECONDS)  # a burst of commits shares one round


async def _deliver(runtime: Runtime, group: list[Claimed]) -> None:
    state = state_of(runtime)
    breakers = state.breakers
    ids = [c.id for c in group]
    try:
        prepared = await prepare(runtime, group)
    except (PeerError, TemplateError) as exc:
        await _record(runtime, group, Outcome(None, f"{type(exc).__name__}: {exc}", 0))
        return
    if isinstance(prepared, Settle):
        await _settle(runtime, group, prepared)
        return
    key = breakers.key(prepared.channel, prepared.address)
    if wait := breakers.acquire(key):
        async with runtime.db.session() as session:
            await deliveries.defer(session, ids, utcnow() + timedelta(seconds=wait))
            await session.commit()
        return
    span = _delivery_span(group[0], prepared.channel)
    with tracing.current(span):
        traceparent = tracing.traceparent_of(span)
        outcome = await state.senders.send(replace(prepared, traceparent=traceparent) if traceparent else prepared)
    _end_delivery_span(span, outcome)
    if outcome.skipped:
        await _settle(runtime, group, Settle(deliveries.SKIPPED, outcome.error or "skipped"))
        return
    if outcome.ok:
        failpoints.reached("delivery.sent")
    breakers.record(key, outcome.ok)
    await _record(runtime, group, outcome)


def _delivery_span(first: Claimed, channel: str) -> Span:
    """The delivery's span, a child of the process span that planned it (``services.tracing``)."""
    parent = tracing.extract({tracing.TRACEPARENT: first.traceparent}) if first.traceparent else None
    attributes: dict[str, str | int] = {
        "notify.channel": channel,
        "notify.notification": first.event_type,
        "notify.attempt": first.attempt_no,
    }
    return tracing.start(f"{first.event_type} deliver", SpanKind.CLIENT, parent, attributes)


def _end_delivery_span(span: Span, outcome: Outcome) -> None:
    if not span.is_recording():
        return
    if outcome.status_code is not None:
        span.set_attribute("http.response.status_code", outcome.status_code)
    if not outcome.ok and not outcome.skipped:
        span.set_status(StatusCode.ERROR, (outcome.error or "")[:100])
    span.end()


async def _settle(runtime: Runtime, group: list[Claimed], settle: Settle) -> None:
    async with runtime.db.session() as session:
        await deliveries.settle(session, [c.id for c in group], settle.status, settle.reason)
        await session.commit()
    state_of(runtime).metrics.outcomes.labels(group[0].channel, settle.status).inc(len(group))


async def _record(runtime: Runtime, group: list[Claimed], outcome: Outcome) -> None:
    s = state_of(runtime).settings
    status = ""
    async with runtime.db.session() as session:
        for claimed in group:
            status = await deliveries.record_attempt(
                session,
                claimed,
                outcome.status_code,
                outcome.error,
                outcome.latency_ms,
                max_attempts=s.delivery_max_attempts,
                retry_base=s.delivery_retry_base_seconds,
                retry_cap=s.delivery_retry_max_seconds,
            )
        await session.commit()
    first = group[0]
    state_of(runtime).metrics.outcomes.labels(first.channel, status).inc(len(group))
    log.info(
        "delivery attempt",
        extra={
            "delivery_id": str(first.id),
            "group_size": len(group),
            "channel": first.channel,
            "attempt": first.attempt_no,
            "outcome": status,
            "status_code": outcome.status_code,
        },
    )


async def prepare(runtime: Runtime, group: list[Claimed]) -> Outgoing | Settle:
    """Address and wording for a group; raises ``PeerError`` when another service must answer first."""
    first = group[0]
    state = state_of(runtime)
    cipher, directory = state.cipher, state.directory
    secret = cipher.decrypt(first.secret_enc) if first.secret_enc else None
    recipient_name = TEAM.get(first.locale, "")
    if first.recipient.startswith("subscription:"):
        address = first.target or ""
    elif first.recipient.startswith("staff:"):
        staff_id = first.recipient.removeprefix("staff:")
        if directory is None:
            raise PeerError("the organisation has not been read from routing-svc yet")
        address, recipient_name = directory.email(staff_id) or "", directory.name(staff_id)
        if not address:
            return Settle(deliveries.SKIPPED, f"staff {staff_id} has no e-mail address in the organisation")
    elif first.case_id is None:
        return Settle(deliveries.SKIPPED, "a notification without a case has no customer to tell")
    else:
        contact = await state.peers.contact(first.case_id)
        if await _opted_out(runtime, cipher.lookup_hash(contact.phone)):
            return Settle(deliveries.SUPPRESSED, "the customer asked not to receive SMS")
        address, recipient_name = contact.phone, ""
    if first.channel == "webhook":
        return Outgoing("webhook", address, "", "", first.body.encode(), str(first.event_id), secret)
    subject, text = await _wording(runtime, group, recipient_name)
    return Outgoing(first.channel, address, subject, text, b"", str(first.event_id), secret)


async def _wording(runtime: Runtime, group: list[Claimed], recipient_name: str) -> tuple[str, str]:
    """One message for the group; a group shares channel and locale, so each template is read once."""
    first = group[0]
    names = dict.fromkeys([c.event_type for c in group] + (["digest"] if first.mode == "digest" else []))
    async with runtime.db.session() as session:
        wording = {n: await templates.lookup(session, n, first.channel, first.locale) for n in names}
    rendered = [templates.render(wording[c.event_type], await _context(runtime, c, recipient_name)) for c in group]
    if first.mode != "digest":
        return rendered[0]
    items = [{"subject": subj, "body": body} for subj, body in rendered]
    return templates.render(wording["digest"], {"items": items, "recipient_name": recipient_name})


async def _context(runtime: Runtime, c: Claimed, recipient_name: str) -> dict[str, Any]:
    state = state_of(runtime)
    s = state.settings
    envelope = json.loads(c.body)
    context: dict[str, Any] = {
        "case": c.facts,
        "level": c.facts.get("level"),
        "notification": c.event_type,
        "payload": envelope.get("payload", {}),
        "event": {k: envelope.get(k) for k in ("event_id", "type", "occurred_at")},
        "recipient_name": recipient_name,
        "link": f"{s.console_url}{c.case_id}" if c.case_id else c.facts.get("link", ""),
        "sign_name": s.sms_sign_name,
    }
    if c.event_type == "case.registered" and c.case_id:
        promised = await state.peers.promised_by(c.case_id)
        if promised is None:
            raise PeerError("sla-svc has no running reply clock for the case yet")
        context["promised_by"] = promised
    return context


async def _opted_out(runtime: Runtime, phone_hash: str) -> bool:
    async with runtime.db.session() as session:
        found = await session.scalar(select(t.opt_outs.c.phone_hash).where(t.opt_outs.c.phone_hash == phone_hash))
    return found is not None
