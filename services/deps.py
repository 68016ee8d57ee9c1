"""FastAPI dependencies every service's routes use."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services import failpoints
from services.errors import DomainError
from services.runtime import Runtime

T = TypeVar("T")


def runtime_of(request: Request) -> Runtime:
    """The service's runtime, built once in the lifespan (``services.app``)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    """``async`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a
    thread hop per request for an attribute read (seen in issue 14's profile).

    The dependencies below read the runtime from the request themselves instead of
    depending on this one: FastAPI solves a dependency's own dependencies anew wherever
    it is used, even when its value is cached, and each nested solve cost a new case
    ~55,000 instructions; the three under ``create_case`` were 4.7% of it
    (``bench.instructions``)."""
    return runtime_of(request)


@asynccontextmanager
async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request, and the one place a request commits (as polar's
    ``get_db_session``): after the route returns, before the answer leaves, so a commit
    that fails is answered as the failure it is, never as the route's 2xx. A route that
    raises is rolled back. Route bodies never commit; one that must start over after an
    ``IntegrityError`` (a concurrent retry of the same case) rolls back and reads again,
    and what it then does is committed here. The commit also records an audited write
    in the same transaction (``services.audit.record_in_transaction``).

    Routes get it as the dependency ``SessionDep`` (``get_session``); a route that reads
    its inputs itself (``services.direct``) enters it with ``async with``."""
    database = runtime_of(request).db
    async with database.session() as session:
        session.sync_session.info["request"] = True
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await database.commit(session)
        failpoints.reached("request.committed")


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """``request_session`` as a dependency, solved with ``scope="function"`` (below):
    FastAPI's default would run its exit, the commit, after the response was sent."""
    async with request_session(request) as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def state_dependency(kind: type[T]) -> Any:
    """``Depends`` on this service's typed state: ``Annotated[IntakeState, state_dependency(IntakeState)]``."""

    async def get_state(request: Request) -> T:
        return runtime_of(request).state_as(kind)

    return Depends(get_state)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


@dataclass
class CaseInPath:
    """The case named by ``{case_id}`` in a route's path, read once per request with the
    request's own session: by ``Allow``'s scope check first (404 for a case the caller may
    not see), then handed to the route (``case_or_404``) instead of being read again.

    Kept on the request's session (``of``; the session is one per request, FastAPI caches
    it), not as a dependency of its own: every route declares ``Allow``, and a
    dependency more under it cost each request ~60,000 instructions
    (``bench.instructions``)."""

    checked: bool = False
    loaded: bool = False
    record: Any = None

    @classmethod
    def of(cls, session: AsyncSession) -> CaseInPath:
        info = session.sync_session.info
        found = info.get(cls)
        if found is None:
            found = info[cls] = cls()
        assert isinstance(found, cls)
        return found

    async def load(self, runtime: Runtime, session: AsyncSession, case_id: uuid.UUID) -> Any:
        if not self.loaded:
            loader = runtime.spec.case_loader
            assert loader is not None, f"{runtime.spec.name} declares no case_loader"
            self.record, self.loaded = await loader(session, case_id), True
        return self.record


async def case_or_404(case_id: uuid.UUID, request: Request, session: SessionDep) -> Any:
    """The route's case, as the scope check read it; 404 if there is none. A route must
    declare ``Allow`` before it asks for its case, so the caller is known (401/403) and
    the scope decided before anything is read for the route: asserted here."""
    cached = CaseInPath.of(session)
    assert cached.checked, "declare Allow(...) before the case in the route's parameters"
    record = await cached.load(runtime_of(request), session, case_id)
    if record is None:
        raise DomainError(404, "case not found")
    return record
