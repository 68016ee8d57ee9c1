"""notify-svc's HTTP API (CONTRACT.md, "notify-svc, minimum")."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from notify import deliveries, subscriptions
from services.deps import RuntimeDep, SessionDep
from shared.api import DeliveryOut, SubscriptionCreate, SubscriptionOut

router = APIRouter(prefix="/v1", tags=["notify"])


@router.post("/subscriptions", status_code=201, response_model=SubscriptionOut)
async def create_subscription(body: SubscriptionCreate, session: SessionDep, runtime: RuntimeDep) -> SubscriptionOut:
    out = await subscriptions.create(session, body, runtime.extras["cipher"])
    await session.commit()
    return out


@router.get("/subscriptions", response_model=list[SubscriptionOut])
async def list_subscriptions(session: SessionDep) -> list[SubscriptionOut]:
    return await subscriptions.list_all(session)


@router.get("/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    session: SessionDep,
    status: Literal["pending", "delivered", "dead"] | None = None,
    event_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    subscription_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    filters = deliveries.DeliveryFilters(
        status=status, event_id=event_id, case_id=case_id, subscription_id=subscription_id
    )
    return await deliveries.list_deliveries(session, filters, limit)
