"""notify-svc wired into the common runtime."""

from pathlib import Path

import httpx

from notify import subscriptions, tables
from notify.breaker import Breakers
from notify.channels import Senders
from notify.consumers import SUBSCRIPTIONS
from notify.digest import DigestPlanner
from notify.feed import feed_pruner
from notify.opsalerts import gap_watch
from notify.orgsync import directory_worker, load_directory
from notify.peers import Peers
from notify.routes import router
from notify.settings import NotifySettings
from notify.state import DeliveryMetrics, NotifyState
from notify.worker import circuits_now, delivery_worker
from services.app import ServiceSpec
from services.crypto import cipher_from_settings
from services.reference import Versioned
from services.runtime import Runtime


def peer_headers(s: NotifySettings) -> dict[str, str]:
    """notify-svc's own credentials towards the other services (role ``service``):
    ``PEER_TOKEN``, issued by the identity provider in production, by the development
    issuer under ``make run`` and in the tests (``services.dev.issuer.peer_token``)."""
    return {"Authorization": f"Bearer {s.peer_token}"} if s.peer_token else {}


async def _start(runtime: Runtime) -> None:
    s = runtime.settings_as(NotifySettings)
    cipher = runtime.cipher = cipher_from_settings(s.field_encryption_key, s.field_hash_key, runtime.name)
    # One client for the process, closed with it (``Runtime.closers``); no redirects: a
    # webhook target that redirects is misconfigured, and following could leak the body.
    client = httpx.AsyncClient(timeout=s.delivery_timeout_seconds, follow_redirects=False)
    peer_client = httpx.AsyncClient(timeout=s.peer_timeout_seconds, headers=peer_headers(s))
    runtime.closers += [client.aclose, peer_client.aclose]
    peers = Peers(s, peer_client)
    state = NotifyState(
        settings=s,
        cipher=cipher,
        peers=peers,
        senders=Senders(s, client),
        breakers=Breakers(s.breaker_failures, s.breaker_cooldown_seconds, s.breaker_max_cooldown_seconds),
        digest=DigestPlanner(peers, s.digest_times),
        subscriptions=Versioned(runtime.tables, subscriptions.SUBSCRIPTIONS, subscriptions.active),
        metrics=DeliveryMetrics.of(runtime.metrics),
    )
    runtime.state = state
    async with runtime.db.session() as session:
        await subscriptions.ensure_default_chain(session, ops_email=s.ops_alert_email)
        await state.subscriptions.changed(session)
        await session.commit()
        state.directory = await load_directory(session)


SPEC = ServiceSpec(
    name="notify-svc",
    schema=tables.SCHEMA,
    settings_class=NotifySettings,
    runtime_tables=tables.runtime,
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router],
    subscriptions=SUBSCRIPTIONS,
    workers=[delivery_worker, directory_worker, feed_pruner, gap_watch],
    on_startup=_start,
    on_scrape=circuits_now,
    encrypted=[(tables.subscriptions, "id", ["secret_enc"])],
    description="Tells people: ops alerts, assignees, customers.",
)
