"""What a running service holds: its settings, database, tables, bus clients and status.

Built once in the app's lifespan and kept on ``app.state.runtime``; route
dependencies, consumers and workers receive it instead of reaching for globals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from services.database import Database
from services.kafka import BrokerStatus
from services.settings import ServiceSettings
from services.tables import RuntimeTables

if TYPE_CHECKING:
    from services.app import ServiceSpec
    from services.consumer import ConsumerRunner
    from services.outbox import OutboxRelay


@dataclass
class Runtime:
    spec: ServiceSpec
    settings: ServiceSettings
    db: Database
    status: BrokerStatus = field(default_factory=BrokerStatus)
    relay: OutboxRelay | None = None
    consumer: ConsumerRunner | None = None
    #: Per-service objects built at start-up (e.g. a field cipher, an HTTP client).
    extras: dict[str, Any] = field(default_factory=dict)
    #: Called at shutdown, after the workers stopped (e.g. closing HTTP clients).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def tables(self) -> RuntimeTables:
        return self.spec.runtime_tables

    @property
    def name(self) -> str:
        return self.spec.name
