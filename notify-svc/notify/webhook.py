"""The delivery worker: claims due deliveries and POSTs them, signed, to their target."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import httpx

from notify import deliveries
from notify.settings import NotifySettings
from notify.signing import sign
from services.crypto import FieldCipher
from services.database import utcnow
from services.runtime import Runtime

log = logging.getLogger(__name__)


async def post_signed(
    client: httpx.AsyncClient, claimed: deliveries.Claimed, secret: str
) -> tuple[int | None, str | None, int]:
    """One attempt: (HTTP status or None, error or None, latency in ms)."""
    body = claimed.body.encode()
    headers = {
        "Content-Type": "application/json",
        "X-Signature": sign(secret, body),
        "X-Event-Id": str(claimed.event_id),
        "User-Agent": "notify-svc",
    }
    started = time.perf_counter()
    try:
        response = await client.post(claimed.target, content=body, headers=headers)
        error = None if response.is_success else f"HTTP {response.status_code}"
        return response.status_code, error, int((time.perf_counter() - started) * 1000)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], int((time.perf_counter() - started) * 1000)


async def delivery_worker(runtime: Runtime) -> None:
    s: NotifySettings = runtime.settings  # type: ignore[assignment]
    cipher: FieldCipher = runtime.extras["cipher"]
    async with httpx.AsyncClient(timeout=s.delivery_timeout_seconds, follow_redirects=False) as client:
        while True:
            try:
                async with runtime.db.session() as session:
                    claimed = await deliveries.claim_due(
                        session, utcnow(), s.delivery_batch_size, timedelta(seconds=s.delivery_lease_seconds)
                    )
                    await session.commit()
                if claimed:
                    await asyncio.gather(*(_deliver(runtime, client, cipher, c, s) for c in claimed))
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - database away: next round
                log.warning("delivery round failed", exc_info=True)
            await asyncio.sleep(s.delivery_poll_seconds)


async def _deliver(
    runtime: Runtime, client: httpx.AsyncClient, cipher: FieldCipher, claimed: deliveries.Claimed, s: NotifySettings
) -> None:
    status_code, error, latency = await post_signed(client, claimed, cipher.decrypt(claimed.secret_enc))
    async with runtime.db.session() as session:
        outcome = await deliveries.record_attempt(
            session,
            claimed,
            status_code,
            error,
            latency,
            max_attempts=s.delivery_max_attempts,
            retry_base=s.delivery_retry_base_seconds,
            retry_cap=s.delivery_retry_max_seconds,
        )
        await session.commit()
    log.info(
        "delivery attempt",
        extra={
            "delivery_id": str(claimed.id),
            "attempt": claimed.attempt_no,
            "outcome": outcome,
            "status_code": status_code,
        },
    )
