"""The audit log: every state-changing request and every read of personal data in
clear, with who, what, when and from where. Append-only: there is no route that
changes or deletes it (and on Postgres a trigger refuses UPDATE and DELETE).

A write that commits is recorded in the same transaction as the write itself, so
the change and its record commit together or not at all (and it costs no
transaction of its own): the request's session (``services.deps.get_session``)
inserts the row just before it commits, with the status the route declares (or
``answering`` sets). Anything else audited, refused attempts (401, 403, 404, 422)
and reads of personal data in clear, is written by ``end`` (``services.middleware``) after the
response, in a statement of its own. A route that shows personal data in clear
marks the request (``mark_pii_read``), which makes a GET audited. A request refused
at the in-flight limit (``services.shedding``) never reaches the edge and is not
audited: no caller was identified and nothing was attempted (decision 0018).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.types import Scope

from services import deferred
from services.auth import Allow
from services.database import utcnow
from services.deps import RuntimeDep, SessionDep
from services.logging import correlation_id
from shared.auth import AUDIT_READ, AuditEntry

log = logging.getLogger(__name__)
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Pending:
    """An audited request in flight: recorded at most once, by its commit or after it."""

    scope: Scope
    status: int | None = None  # what the route says it will answer (``answering``)
    written: bool = False


_pending: ContextVar[Pending | None] = ContextVar("audit_pending", default=None)


def answering(status: int) -> None:
    """The status this request will answer, when the route decides it (201 or 200)."""
    pending = _pending.get()
    if pending is not None:
        pending.status = status


def record_in_transaction(session: Session) -> None:
    """``before_commit`` of a request's session: the audit row joins the write's transaction."""
    pending = _pending.get()
    if pending is None or pending.written or not session.info.get("request"):
        return
    route = pending.scope.get("route")
    status = pending.status or getattr(route, "status_code", None) or 200
    runtime = pending.scope["app"].state.runtime
    deferred.defer(session, runtime.tables.audit_log, [_row(pending.scope, pending.scope.get("state") or {}, status)])
    pending.written = True
    session.info[Pending] = pending


def unrecord_on_rollback(session: Session) -> None:
    """``after_soft_rollback``: an audit row written ahead of the commit
    (``services.database.write_ahead``) went with the rollback, so the request's commit,
    or ``end`` after the response, records it again."""
    pending = session.info.pop(Pending, None)
    if session.info.get(deferred.Committed):
        return  # the audit row went with a final write that committed by itself
    if isinstance(pending, Pending):
        pending.written = False


def mark_pii_read(request: Request, what: str) -> None:
    """This response shows personal data in clear: audit it even though it is a read."""
    request.state.audit = {"pii_read": what}


@dataclass
class Audited:
    """What ``begin`` started for a request, for ``end``."""

    pending: Pending | None
    token: Any


def begin(scope: Scope) -> Audited | None:
    """Called by ``services.middleware.EdgeMiddleware`` before the route runs."""
    if not scope["path"].startswith("/v1/"):
        return None
    pending = Pending(scope) if scope["method"] in WRITES else None
    return Audited(pending, _pending.set(pending))


async def end(scope: Scope, audited: Audited | None, status: int) -> None:
    """After the response: record what the write's own commit did not."""
    if audited is None:
        return
    _pending.reset(audited.token)
    pending, state = audited.pending, scope.get("state") or {}
    if pending is not None and pending.written:
        if pending.status is not None and pending.status != status:
            log.warning("audited write answered otherwise", extra={"recorded": pending.status, "status": status})
    elif scope["method"] in WRITES or "audit" in state:
        await _record(scope, state, status)


async def _record(scope: Scope, state: dict[str, Any], status: int) -> None:
    runtime = scope["app"].state.runtime
    row = _row(scope, state, status)
    try:
        async with runtime.db.engine.connect() as conn:
            await conn.execute(runtime.tables.audit_log.insert(), row)
            await conn.commit()
    except Exception:  # noqa: BLE001 - the request is done; the loss is logged loudly
        log.error("audit record not written", extra={"action": row["action"], "actor": row["actor"]}, exc_info=True)


def _row(scope: Scope, state: dict[str, Any], status: int) -> dict[str, Any]:
    principal = state.get("principal")
    route = scope.get("route")
    params = scope.get("path_params") or {}
    target = next(
        (str(params[k]) for k in ("case_id", "subscription_id", "delivery_id", "key_id") if k in params), None
    )
    client = scope.get("client")
    return {
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
