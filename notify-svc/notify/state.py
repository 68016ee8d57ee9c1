"""What notify-svc's start-up builds, typed: routes reach it through ``StateDep``,
consumers and workers through ``state_of(runtime)`` (no string-keyed bag)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from prometheus_client import Counter, Gauge
from sqlalchemy import Row

from notify.breaker import Breakers
from notify.channels import Senders
from notify.digest import DigestPlanner
from notify.directory import Directory
from notify.peers import Peers
from notify.settings import NotifySettings
from services.crypto import FieldCipher
from services.deps import state_dependency
from services.metrics import Metrics
from services.reference import Versioned
from services.runtime import Runtime


@dataclass(frozen=True)
class DeliveryMetrics:
    """notify's own figures on ``/metrics``: attempts by channel and outcome, and the
    circuits open now by channel (read when scraped; never a target's address, which
    may hold a robot's access token)."""

    outcomes: Counter
    circuits_open: Gauge

    @classmethod
    def of(cls, metrics: Metrics) -> DeliveryMetrics:
        return cls(
            metrics.counter(
                "deliveries", "Delivery attempts and settlements, by channel and outcome", ("channel", "outcome")
            ),
            metrics.gauge("circuits_open", "Delivery targets whose circuit is open now, by channel", ("channel",)),
        )


@dataclass
class NotifyState:
    settings: NotifySettings
    #: Subscription secrets encrypted, phones hashed for opt-outs (``Runtime.cipher`` too).
    cipher: FieldCipher
    #: The other services' APIs (case facts, the organisation), with notify's own token.
    peers: Peers
    senders: Senders
    breakers: Breakers
    digest: DigestPlanner
    #: The active subscriptions in memory, reloaded when their stamp moves (checked at
    #: most once a second by the fan-out), instead of read for every batch of events.
    subscriptions: Versioned[list[Row[Any]]]
    metrics: DeliveryMetrics
    #: Who is who (routing's organisation), refreshed by ``peers.directory_worker``;
    #: None until routing has answered once.
    directory: Directory | None = None


def state_of(runtime: Runtime) -> NotifyState:
    return runtime.state_as(NotifyState)


StateDep = Annotated[NotifyState, state_dependency(NotifyState)]
