"""The audit log: every state-changing request and every read of personal data in
clear, with who, what, when and from where. Append-only: there is no route that
changes or deletes it (and on Postgres a trigger refuses UPDATE and DELETE).

Written by ``AuditMiddleware`` after the response, in a transaction of its own, so
that refused attempts (401, 403, 404) are recorded too. A route that shows personal
data in clear marks the request (``mark_pii_read``), which makes a GET audited.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.auth import Allow
from services.database import utcnow
from services.deps import RuntimeDep, SessionDep
from services.logging import correlation_id
from shared.auth import AUDIT_READ, AuditEntry

log = logging.getLogger(__name__)
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def mark_pii_read(request: Request, what: str) -> None:
    """This response shows personal data in clear: audit it even though it is a read."""
    request.state.audit = {"pii_read": what}


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            state = scope.get("state") or {}
            if scope["method"] in WRITES or "audit" in state:
                await self._record(scope, state, status)

    async def _record(self, scope: Scope, state: dict[str, Any], status: int) -> None:
        runtime = scope["app"].state.runtime
        principal = state.get("principal")
        route = scope.get("route")
        params = scope.get("path_params") or {}
        target = next(
            (str(params[k]) for k in ("case_id", "subscription_id", "delivery_id", "key_id") if k in params), None
        )
        client = scope.get("client")
        row = {
            "at": utcnow(),
            "actor": principal.subject if principal else "anonymous",
            "actor_kind": principal.kind if principal else "anonymous",
            "roles": list(principal.roles) if principal else [],
            "action": f"{scope['method']} {getattr(route, 'path', scope['path'])}"[:200],
            "target": target[:100] if target else None,
            "status": status,
            "source_ip": client[0] if client else None,
            "correlation_id": correlation_id.get(),
            "details": state.get("audit") or {},
        }
        try:
            async with runtime.db.session() as session:
                await session.execute(runtime.tables.audit_log.insert().values(**row))
                await session.commit()
        except Exception:  # noqa: BLE001 - the request is done; the loss is logged loudly
            log.error("audit record not written", extra={"action": row["action"], "actor": row["actor"]}, exc_info=True)


router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit", response_model=list[AuditEntry], dependencies=[Depends(Allow(AUDIT_READ))])
async def list_audit(
    session: SessionDep,
    runtime: RuntimeDep,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    target: Annotated[str | None, Query(max_length=100)] = None,
    pii_reads: bool = False,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    """Newest first; page with ``before_id``. Read-only: nothing edits the log."""
    a = runtime.tables.audit_log
    query = select(a).order_by(a.c.id.desc()).limit(limit)
    if actor:
        query = query.where(a.c.actor == actor)
    if target:
        query = query.where(a.c.target == target)
    if before_id:
        query = query.where(a.c.id < before_id)
    if pii_reads:
        query = query.where(a.c.details["pii_read"].as_string().is_not(None))
    rows = (await session.execute(query)).all()
    return [AuditEntry.model_validate(r, from_attributes=True) for r in rows]
