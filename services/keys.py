"""API keys of machine clients (a CTI integration, a counter app, an e-mail gateway).

A key is ``<id>.<secret>``; only a keyed hash of the secret is stored, so the key
is shown once, when it is made. Each key names its client, roles, the channels it
may create cases on and the branch subtrees it may act in, and a rate limit.
Revoking takes effect on the next request (keys are looked up every time).

Each service keeps the keys of its own clients. Managed by admins through
``/v1/api-keys`` or on the command line, against a service's database:

    python -m services.keys intake-svc create cti-genesys --channel hotline
    python -m services.keys intake-svc list
    python -m services.keys intake-svc revoke <id>
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import Allow
from services.database import utcnow
from services.deps import RuntimeDep, SessionDep
from services.errors import DomainError
from services.runtime import Runtime
from shared.auth import KEYS_MANAGE, ApiKeyCreate, ApiKeyOut

router = APIRouter(prefix="/v1", tags=["api keys"], dependencies=[Depends(Allow(KEYS_MANAGE))])


async def create_key(session: AsyncSession, runtime: Runtime, body: ApiKeyCreate) -> ApiKeyOut:
    auth = runtime.authenticator
    key_id, secret = f"ak{secrets.token_hex(8)}", secrets.token_urlsafe(32)
    values: dict[str, Any] = {
        "id": key_id,
        "secret_hash": auth.hash_secret(secret),
        "client": body.client,
        "roles": [r.value for r in body.roles],
        "channels": [c.value for c in body.channels],
        "branches": list(body.branches),
        "rate_per_minute": body.rate_per_minute,
        "note": body.note,
        "created_at": utcnow(),
    }
    await session.execute(runtime.tables.api_keys.insert().values(**values))
    return _out(await _row(session, runtime, key_id), key=f"{key_id}.{secret}")


async def revoke_key(session: AsyncSession, runtime: Runtime, key_id: str) -> None:
    row = await _row(session, runtime, key_id)
    if row.revoked_at is None:
        table = runtime.tables.api_keys
        await session.execute(table.update().where(table.c.id == key_id).values(revoked_at=utcnow()))


async def list_keys(session: AsyncSession, runtime: Runtime) -> list[ApiKeyOut]:
    table = runtime.tables.api_keys
    return [_out(r) for r in (await session.execute(select(table).order_by(table.c.created_at))).all()]


async def _row(session: AsyncSession, runtime: Runtime, key_id: str) -> Row[Any]:
    table = runtime.tables.api_keys
    row = (await session.execute(select(table).where(table.c.id == key_id))).first()
    if row is None:
        raise DomainError(404, "no such API key")
    return row


def _out(row: Row[Any], key: str | None = None) -> ApiKeyOut:
    return ApiKeyOut.model_validate({**row._mapping, "key": key})


@router.post("/api-keys", status_code=201, response_model=ApiKeyOut)
async def post_key(body: ApiKeyCreate, session: SessionDep, runtime: RuntimeDep) -> ApiKeyOut:
    return await create_key(session, runtime, body)


@router.get("/api-keys", response_model=list[ApiKeyOut])
async def get_keys(session: SessionDep, runtime: RuntimeDep) -> list[ApiKeyOut]:
    return await list_keys(session, runtime)


@router.delete("/api-keys/{key_id}", status_code=204)
async def delete_key(key_id: str, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Revokes the key: the next request with it gets 401. The record stays."""
    await revoke_key(session, runtime, key_id)
    return Response(status_code=204)


async def _cli(args: argparse.Namespace) -> None:
    from services.cli import open_runtime  # the service's runtime without serving it

    async with open_runtime(args.service) as runtime, runtime.db.session() as session:
        if args.command == "create":
            body = ApiKeyCreate(
                client=args.client,
                roles=args.role or ["integration"],
                channels=args.channel or [],
                branches=args.branch or [],
                rate_per_minute=args.rate,
            )
            out = await create_key(session, runtime, body)
            await session.commit()
            print(f"{out.id}  {out.client}  key (shown once): {out.key}")
        elif args.command == "revoke":
            await revoke_key(session, runtime, args.client)
            await session.commit()
            print(f"revoked {args.client}")
        else:
            for k in await list_keys(session, runtime):
                state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
                print(f"{k.id}  {k.client:24} {','.join(k.roles):20} {state}  last used {k.last_used_at or '-'}")


def _development_env() -> None:
    """Next to ``make run``, use its development secrets (the key hash depends on them)."""
    dev = Path(os.environ.get("VAR_DIR", "var")) / "dev-secrets.env"
    if "FIELD_HASH_KEY" not in os.environ and dev.exists():
        for line in dev.read_text().splitlines():
            name, _, value = line.partition("=")
            os.environ.setdefault(name, value)


def main() -> None:
    _development_env()
    parser = argparse.ArgumentParser(prog="python -m services.keys", description=__doc__)
    parser.add_argument("service")
    parser.add_argument("command", choices=["create", "list", "revoke"])
    parser.add_argument("client", nargs="?", help="create: the client's name; revoke: the key id")
    parser.add_argument("--role", action="append")
    parser.add_argument("--channel", action="append")
    parser.add_argument("--branch", action="append")
    parser.add_argument("--rate", type=int, default=600, help="requests a minute this key may make (default 600)")
    asyncio.run(_cli(parser.parse_args()))


if __name__ == "__main__":
    main()
