"""FastAPI dependencies every service's routes use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime import Runtime

T = TypeVar("T")


async def get_runtime(request: Request) -> Runtime:
    """``async`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a
    thread hop per request for an attribute read (seen in issue 14's profile)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> AsyncIterator[AsyncSession]:
    """A session per request, and the one place a request commits (as polar's
    ``get_db_session``): after the route returns, before the answer leaves, so a commit
    that fails is answered as the failure it is, never as the route's 2xx (``scope=
    "function"`` below: FastAPI's default would run this after the response was sent).
    A route that raises is rolled back. Route bodies never commit; one that must start
    over after an ``IntegrityError`` (a concurrent retry of the same case) rolls back and
    reads again, and what it then does is committed here. The commit also records an
    audited write in the same transaction (``services.audit.record_in_transaction``)."""
    async with runtime.db.session() as session:
        session.sync_session.info["request"] = True
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def state_dependency(kind: type[T]) -> Any:
    """``Depends`` on this service's typed state: ``Annotated[IntakeState, state_dependency(IntakeState)]``."""

    async def get_state(runtime: RuntimeDep) -> T:
        return runtime.state_as(kind)

    return Depends(get_state)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
