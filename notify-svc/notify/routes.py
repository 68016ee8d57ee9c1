"""notify-svc's HTTP API (CONTRACT.md, "notify-svc, minimum", and more):
subscriptions, deliveries and resend, templates and preview, customer opt-outs,
the live feed (SSE) and the state of the circuit breakers."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from jinja2 import TemplateError

from notify import deliveries, feed, subscriptions, templates
from notify import tables as t
from notify.state import StateDep
from services.auth import Allow, Principal
from services.database import insert_ignoring_conflicts, utcnow
from services.deps import RuntimeDep, SessionDep
from services.errors import field_error
from shared.auth import CASE_ACT, DELIVERIES_READ, NOTIFY_MANAGE, REPORTS_READ
from shared.notify import (
    DeliveryChannel,
    DeliveryOut,
    EventName,
    Locale,
    OptOutIn,
    PreviewIn,
    PreviewOut,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionPatch,
    TemplateIn,
    TemplateOut,
)

router = APIRouter(prefix="/v1", tags=["notify"])
TemplateChannel = DeliveryChannel | Literal["*"]
TemplateEvent = EventName | Literal["digest", "default"]


@router.post(
    "/subscriptions", status_code=201, response_model=SubscriptionOut, dependencies=[Depends(Allow(NOTIFY_MANAGE))]
)
async def create_subscription(body: SubscriptionCreate, session: SessionDep, state: StateDep) -> SubscriptionOut:
    made = await subscriptions.create(session, body, state.cipher)
    await state.subscriptions.changed(session)
    return made


@router.get("/subscriptions", response_model=list[SubscriptionOut], dependencies=[Depends(Allow(NOTIFY_MANAGE))])
async def list_subscriptions(session: SessionDep) -> list[SubscriptionOut]:
    return await subscriptions.list_all(session)


@router.patch(
    "/subscriptions/{subscription_id}", response_model=SubscriptionOut, dependencies=[Depends(Allow(NOTIFY_MANAGE))]
)
async def patch_subscription(
    subscription_id: uuid.UUID, body: SubscriptionPatch, session: SessionDep, state: StateDep
) -> SubscriptionOut:
    patched = await subscriptions.patch(session, subscription_id, body)
    await state.subscriptions.changed(session)
    return patched


@router.delete("/subscriptions/{subscription_id}", status_code=204, dependencies=[Depends(Allow(NOTIFY_MANAGE))])
async def delete_subscription(subscription_id: uuid.UUID, session: SessionDep, state: StateDep) -> Response:
    """Turns the subscription off for good; its deliveries stay listed."""
    await subscriptions.delete(session, subscription_id)
    await state.subscriptions.changed(session)
    return Response(status_code=204)


@router.get("/deliveries", response_model=list[DeliveryOut], dependencies=[Depends(Allow(DELIVERIES_READ))])
async def list_deliveries(
    session: SessionDep,
    status: Literal["pending", "delivered", "dead", "suppressed", "skipped"] | None = None,
    event_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    subscription_id: uuid.UUID | None = None,
    channel: DeliveryChannel | None = None,
    recipient: Annotated[str | None, Query(max_length=200)] = None,
    event_type: EventName | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    filters = deliveries.DeliveryFilters(
        status=status,
        event_id=event_id,
        case_id=case_id,
        subscription_id=subscription_id,
        channel=channel,
        recipient=recipient,
        event_type=event_type,
    )
    return await deliveries.list_deliveries(session, filters, limit)


@router.post(
    "/deliveries/{delivery_id}/resend",
    status_code=202,
    response_model=list[DeliveryOut],
    dependencies=[Depends(Allow(NOTIFY_MANAGE))],
)
async def resend_delivery(delivery_id: uuid.UUID, session: SessionDep) -> list[DeliveryOut]:
    """A dead delivery tries again now, with a fresh set of attempts."""
    await deliveries.resend(session, delivery_id)
    return await deliveries.list_deliveries(session, deliveries.DeliveryFilters(id=delivery_id), 1)


@router.get(
    "/templates/{event}/{channel}/{locale}", response_model=TemplateOut, dependencies=[Depends(Allow(NOTIFY_MANAGE))]
)
async def get_template(
    event: TemplateEvent, channel: TemplateChannel, locale: Locale, session: SessionDep
) -> TemplateOut:
    return await templates.lookup(session, event, channel, locale)


@router.put(
    "/templates/{event}/{channel}/{locale}", response_model=TemplateOut, dependencies=[Depends(Allow(NOTIFY_MANAGE))]
)
async def put_template(
    event: TemplateEvent, channel: TemplateChannel, locale: Locale, body: TemplateIn, session: SessionDep
) -> TemplateOut:
    """Replace the wording; ``*`` as channel covers every channel without its own."""
    return await templates.put(session, event, channel, locale, body)


@router.delete("/templates/{event}/{channel}/{locale}", status_code=204, dependencies=[Depends(Allow(NOTIFY_MANAGE))])
async def reset_template(
    event: TemplateEvent, channel: TemplateChannel, locale: Locale, session: SessionDep
) -> Response:
    """Back to the shipped wording."""
    await templates.reset(session, event, channel, locale)
    return Response(status_code=204)


@router.post("/templates/preview", response_model=PreviewOut, dependencies=[Depends(Allow(NOTIFY_MANAGE))])
async def preview_template(body: PreviewIn, session: SessionDep) -> PreviewOut:
    """Render a template (the stored one, or a draft) with a sample case and your overrides."""
    template = body.template or await templates.lookup(session, body.event, body.channel, body.locale)
    context = {**templates.sample_context(), **body.context}
    try:
        subject, text = templates.render(template, context)
    except TemplateError as exc:
        raise field_error("template", str(exc)) from exc
    return PreviewOut(subject=subject, body=text)


@router.post("/opt-outs", status_code=204, dependencies=[Depends(Allow(CASE_ACT))])
async def opt_out(body: OptOutIn, session: SessionDep, state: StateDep) -> Response:
    """The customer asked for no more SMS; kept as a keyed hash, never the number."""
    phone_hash = state.cipher.lookup_hash(body.phone)
    await session.execute(
        insert_ignoring_conflicts(session, t.opt_outs, ["phone_hash"]).values(phone_hash=phone_hash, at=utcnow())
    )
    return Response(status_code=204)


@router.post("/opt-ins", status_code=204, dependencies=[Depends(Allow(CASE_ACT))])
async def opt_in(body: OptOutIn, session: SessionDep, state: StateDep) -> Response:
    """The customer wants SMS again."""
    phone_hash = state.cipher.lookup_hash(body.phone)
    await session.execute(t.opt_outs.delete().where(t.opt_outs.c.phone_hash == phone_hash))
    return Response(status_code=204)


@router.get("/feed", response_class=StreamingResponse)
async def live_feed(
    request: Request,
    runtime: RuntimeDep,
    who: Annotated[Principal, Depends(Allow(REPORTS_READ))],
    branch_code: Annotated[str | None, Query(max_length=32, description="a branch and every branch under it")] = None,
    events: Annotated[list[EventName] | None, Query(description="only these notifications")] = None,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    after: Annotated[int | None, Query(ge=0, description="same as the Last-Event-ID header")] = None,
) -> StreamingResponse:
    """Server-Sent Events: every event from the one after ``Last-Event-ID`` on, then live."""
    start = last_event_id if last_event_id is not None else (after or 0)
    body = feed.stream(runtime, start, branch_code, list(events or []), request.is_disconnected, who)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@router.get("/circuits", response_model=dict[str, float], dependencies=[Depends(Allow(DELIVERIES_READ))])
async def open_circuits(state: StateDep) -> dict[str, float]:
    """Targets whose circuit is open, with the seconds until the next probe."""
    return state.breakers.open_circuits()
