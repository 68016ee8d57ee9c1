"""Who is calling, and may they: the one way every endpoint is protected.

Every route declares its permission with ``Allow(...)`` (``dependencies=[...]`` or
a parameter); ``create_app`` refuses to start a service with a route that has none
(``services.permissions``). ``Allow`` authenticates the caller once per request:

- ``Authorization: Bearer <JWT>``: staff. Verified against ``JWT_ISSUER`` with the
  keys of ``JWT_JWKS_URL`` (fetched and cached) or ``JWT_JWKS`` (inline); in
  development mode also against the development issuer's key. Claims: ``sub``,
  ``roles``, ``branch``.
- ``X-API-Key: <id>.<secret>``: machine clients. Looked up in the service's
  ``api_keys`` table on every request (a revoked key fails at once), the secret
  compared as a keyed hash, ``last_used_at`` kept to the minute, and a rate limit
  per key (token bucket, per process).

Then the permission: missing, 403. Whether the caller may see a particular case is
a separate check (``Principal.sees_case``), answered with 404 so case ids cannot
be probed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from fastapi import Request
from sqlalchemy import or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.database import utcnow
from services.deps import CaseInPath, SessionDep, runtime_of
from services.errors import DomainError
from services.runtime import Runtime
from shared.auth import PUBLIC, permissions_of
from shared.org import in_subtree, subtree_clause

ALGORITHMS = ["RS256", "RS384", "ES256", "ES384", "PS256"]
#: A verified token is trusted again without a signature check for at most this long
#: (and never past its ``exp``): the RSA check was 8% of intake's time per request
#: (issue 14's profile), and a hotline agent's client sends the same token all shift.
#: A key withdrawn from the JWKS stops admitting its tokens within this time.
TOKEN_CACHE_SECONDS = 60.0
TOKEN_CACHE_SIZE = 4096
LEEWAY_SECONDS = 30


#: Tokens of the development issuer (``services.dev.issuer``, ``make run`` and the tests)
#: carry this issuer and key id; they are trusted only where ``DEV_ISSUER_KEY`` is set,
#: which production refuses (``services.security``).
DEV_ISSUER = "dev-issuer.local"
DEV_KID = "dev-1"


@cache
def dev_private_key(dev_key: str) -> Any:
    """The development issuer's key (base64 PEM), loaded once: parsing an RSA key costs
    tens of milliseconds."""
    return serialization.load_pem_private_key(base64.b64decode(dev_key), password=None)


@dataclass(frozen=True)
class Principal:
    subject: str
    kind: str  # staff | client
    roles: tuple[str, ...]
    permissions: frozenset[str]
    scope: tuple[str, ...] | None  # branch subtrees; None: every branch
    channels: tuple[str, ...] = ()
    key_id: str | None = None

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def sees_branch(self, branch: str | None) -> bool:
        """Branch codes nest by prefix (GD, GD-SZ, GD-SZ-NS): a scope covers its subtree."""
        return self.scope is None or any(in_subtree(branch, b) for b in self.scope)

    def sees_case(self, branch: str | None, *people: str | None) -> bool:
        """Own branch subtree, or a case assigned to (or owned by) the caller."""
        return self.sees_branch(branch) or (self.kind == "staff" and self.subject in people)


class Authenticator:
    """Built once per service (``Runtime.auth``)."""

    def __init__(self, runtime: Runtime) -> None:
        s = runtime.settings
        self.runtime = runtime
        self.head_office = s.head_office_branch
        self.issuer = s.jwt_issuer
        self.audience = s.jwt_audience
        self.keys: dict[str, Any] = {}
        if s.jwt_jwks:
            for jwk in jwt.PyJWKSet.from_json(s.jwt_jwks).keys:
                self.keys[jwk.key_id or ""] = jwk.key
        self.jwks_client = jwt.PyJWKClient(s.jwt_jwks_url, lifespan=300) if s.jwt_jwks_url else None
        self.dev_key = dev_private_key(s.dev_issuer_key).public_key() if s.dev_issuer_key and s.is_development else None
        self.pepper = (s.field_hash_key or "").encode()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._verified: dict[str, tuple[float, Principal]] = {}  # token -> (trusted until, epoch s)

    async def principal(self, request: Request) -> Principal:
        cached: Principal | None = getattr(request.state, "principal", None)
        if cached is not None:
            return cached
        authorization = request.headers.get("authorization", "")
        api_key = request.headers.get("x-api-key")
        if authorization.lower().startswith("bearer "):
            principal = self._from_token(authorization[7:].strip())
        elif api_key:
            principal = await self.key_principal(api_key)
        else:
            raise DomainError(401, "authentication required: a bearer token or an X-API-Key")
        request.state.principal = principal
        return principal

    def _from_token(self, token: str) -> Principal:
        now = time.time()
        known = self._verified.get(token)
        if known is not None and now < known[0]:
            return known[1]
        principal, exp = self._verify(token)
        if len(self._verified) >= TOKEN_CACHE_SIZE:
            self._verified = {t: v for t, v in self._verified.items() if v[0] > now}
            if len(self._verified) >= TOKEN_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (min(exp + LEEWAY_SECONDS, now + TOKEN_CACHE_SECONDS), principal)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        """Check the signature and claims; the caller and the token's ``exp``."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
            issuer = unverified.get("iss")
            expected_issuer: str | None
            if self.dev_key is not None and issuer == DEV_ISSUER and header.get("kid") == DEV_KID:
                key, expected_issuer = self.dev_key, DEV_ISSUER
            else:
                key, expected_issuer = self._issuer_key(header), self.issuer
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=expected_issuer,
                audience=self.audience if expected_issuer != DEV_ISSUER else None,
                options={"require": ["exp", "sub", "iss"], "verify_aud": bool(self.audience)},
                leeway=LEEWAY_SECONDS,
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise DomainError(401, f"invalid token: {exc}") from exc
        roles = tuple(str(r) for r in claims.get("roles") or [])
        branch = claims.get("branch")
        scope = None if not branch or branch == self.head_office else (str(branch),)
        return Principal(str(claims["sub"]), "staff", roles, permissions_of(roles), scope), float(claims["exp"])

    def _issuer_key(self, header: dict[str, Any]) -> Any:
        kid = header.get("kid") or ""
        if kid in self.keys:
            return self.keys[kid]
        if self.jwks_client is not None:
            return self.jwks_client.get_signing_key(kid).key
        raise jwt.InvalidKeyError("no key for this token (JWT_JWKS or JWT_JWKS_URL)")

    def hash_secret(self, secret: str) -> str:
        return hmac.new(self.pepper, secret.encode(), hashlib.sha256).hexdigest()

    async def key_principal(self, raw: str) -> Principal:
        """The client an API key (``<id>.<secret>``) stands for; 401 if none, 429 past its rate."""
        key_id, _, secret = raw.partition(".")
        table = self.runtime.tables.api_keys
        async with self.runtime.db.session() as session:
            row = (await session.execute(select(table).where(table.c.id == key_id[:32]))).first()
            if (
                row is None
                or row.revoked_at is not None
                or not hmac.compare_digest(row.secret_hash, self.hash_secret(secret))
            ):
                raise DomainError(401, "unknown or revoked API key")
            now = utcnow()
            if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
                await session.execute(table.update().where(table.c.id == row.id).values(last_used_at=now))
                await session.commit()
        self._rate_limit(row.id, row.rate_per_minute)
        roles = tuple(row.roles)
        scope = tuple(row.branches) if row.branches else None
        return Principal(row.client, "client", roles, permissions_of(roles), scope, tuple(row.channels), row.id)

    def _rate_limit(self, key_id: str, per_minute: int) -> None:
        """Token bucket: bursts up to a minute's allowance, refilled continuously."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key_id, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - last) * per_minute / 60.0)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now)
            wait = int((1.0 - tokens) * 60.0 / per_minute) + 1
            raise DomainError(429, "rate limit of this API key exceeded", retry_after_seconds=wait)
        self._buckets[key_id] = (tokens - 1.0, now)


@dataclass(frozen=True)
class Allow:
    """A route's permission; as a dependency it returns the caller (``Principal``)."""

    permission: str

    async def __call__(self, request: Request, session: SessionDep) -> Principal | None:
        return await self.check(request, session)

    async def check(self, request: Request, session: AsyncSession) -> Principal | None:
        """The caller, if they may (401, 403, 404 for a case out of scope otherwise): what
        the dependency does, and what a route that reads its own inputs calls first
        (``services.direct``)."""
        if self.permission == PUBLIC:
            return None
        runtime = runtime_of(request)
        principal = await self.caller(request, runtime)
        if not principal.can(self.permission):
            raise DomainError(403, f"your roles do not allow {self.permission}")
        case = CaseInPath.of(session)
        case_id = request.path_params.get("case_id")
        if case_id is not None and runtime.spec.case_loader is not None:
            await _ensure_case_visible(runtime, session, case, principal, str(case_id))
        case.checked = True
        return principal

    async def caller(self, request: Request, runtime: Runtime) -> Principal:
        """Who is calling: a bearer token or an ``X-API-Key`` header."""
        return await runtime.authenticator.principal(request)


@dataclass(frozen=True)
class AllowKeyInPath(Allow):
    """For a client that can only be given a URL (a PBX module written for Zammad's
    generic CTI, which carries its credential as the URL's last segment): the API key is
    the route's ``{token}`` path parameter, and it must be bound to ``channel``. The
    token is a secret like any key: the edge logs the path with it masked
    (``services.middleware``), the audit records the route's template, and a refusal
    never repeats it."""

    channel: str = ""

    async def caller(self, request: Request, runtime: Runtime) -> Principal:
        principal = await runtime.authenticator.key_principal(str(request.path_params.get("token", "")))
        if self.channel and self.channel not in principal.channels:
            raise DomainError(403, f"this API key is not bound to the {self.channel} channel")
        request.state.principal = principal
        return principal


async def _ensure_case_visible(
    runtime: Runtime, session: AsyncSession, case: CaseInPath, principal: Principal, case_id: str
) -> None:
    """Every route under ``/cases/{case_id}``: a case outside the caller's scope is 404,
    decided before the body is even read, so no answer differs for a case one may not see.
    Read with the request's session, and kept for the route (``services.deps.CaseInPath``)."""
    try:
        key = uuid.UUID(case_id)
    except ValueError:
        return  # FastAPI answers 422 for the malformed id, the same for every caller
    found = await case.load(runtime, session, key)
    if found is not None:
        ensure_sees(principal, found.branch_code, found.assignee, found.owner)


def scope_clause(principal: Principal, branch: Any, *people: Any) -> Any:
    """The SQL twin of ``Principal.sees_case``, for lists and reports."""
    if principal.scope is None:
        return true()
    conditions = [subtree_clause(branch, b) for b in principal.scope]
    if principal.kind == "staff":
        conditions += [column == principal.subject for column in people]
    return or_(*conditions)


class ScopedCase(Protocol):
    """What the scope check reads of a case (``ServiceSpec.case_loader``): a row will do."""

    @property
    def branch_code(self) -> str | None: ...
    @property
    def assignee(self) -> str | None: ...
    @property
    def owner(self) -> str | None: ...


def ensure_sees(principal: Principal, branch: str | None, *people: str | None) -> None:
    """404, not 403, for a case outside the caller's scope: ids cannot be probed."""
    if not principal.sees_case(branch, *people):
        raise DomainError(404, "case not found")
