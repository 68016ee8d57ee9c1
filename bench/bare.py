"""The ceiling to compare intake with: a bare FastAPI + asyncpg endpoint (issue 14).

It does the least an intake must do: validate a case against the same contract
(``shared.intake.CaseCreate``), then insert the case and one outbox row in one
transaction, and answer 201 with the id. No auth, no audit, no case number, no
encryption, no relay. ``bench.system_bench`` runs it beside the system, under the
same load generator, and reports intake's throughput as a fraction of this one.

    python -m bench.bare --port 8900 --dsn postgresql://127.0.0.1/test
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.intake import CaseCreate

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS bare;
CREATE TABLE IF NOT EXISTS bare.cases (id uuid PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS bare.outbox (id bigserial PRIMARY KEY, topic text NOT NULL, payload jsonb NOT NULL);
"""


def build(dsn: str) -> FastAPI:
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=4, max_size=10)
        async with pool.acquire() as conn:
            await conn.execute(SCHEMA)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/cases", status_code=201)
    async def create(body: CaseCreate, request: Request) -> JSONResponse:
        assert pool is not None
        case_id = uuid.uuid4()
        payload = body.model_dump_json()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO bare.cases (id, body) VALUES ($1, $2::jsonb)", case_id, payload)
            await conn.execute(
                "INSERT INTO bare.outbox (topic, payload) VALUES ('case.created', $1::jsonb)",
                json.dumps({"case_id": str(case_id)}),
            )
        return JSONResponse({"id": str(case_id)}, status_code=201)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    args = parser.parse_args()
    uvicorn.run(build(args.dsn), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
