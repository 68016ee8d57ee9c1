"""FastAPI dependencies every service's routes use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """``async`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a
    thread hop per request for an attribute read (seen in issue 14's profile)."""
    return request.app.state.runtime  # type: ignore[no-any-return]


async def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> AsyncIterator[AsyncSession]:
    """A session per request; the route commits it (the edge), or it is rolled back.
    Its commit also records an audited write (``services.audit.record_in_transaction``)."""
    async with runtime.db.session() as session:
        session.sync_session.info["request"] = True
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
