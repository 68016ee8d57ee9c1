from pathlib import Path

from services.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    port: int = 8002
    #: Organisation and rules loaded at start-up when the tables are empty.
    routing_seed_file: Path | None = Path(__file__).parent / "data" / "sample_org.yaml"
    #: Where a case goes when no unit of its branch (or any parent) can take it.
    default_unit: str = "HO.cs"
    #: How often the queue worker looks for waiting cases that now fit somewhere. A
    #: safety net (``routing.queues``): a queue drains at once when room frees through
    #: this service, so the worker only catches what bypassed it (a capacity changed in
    #: the database by hand, a drain that found a case held by another). Every 30 s, not
    #: 5: each round reads the people and the queue of every unit with waiting cases,
    #: 0.2% of a core at rest with ~3,000 cases waiting at 5 s (issue 14: under 0.5%).
    queue_drain_seconds: float = 30.0
    #: Routing's fetch wait while cases flow: shorter than the other services' (500).
    #: Its hop is the one between a new case and its assignment, which a caller and
    #: the bus target (POST to ``case.transferred``) wait on; on a broker that holds a
    #: fetch (the local one answers at half the wait) the hop costs up to half of this.
    #: Only routing pays the extra fetches (``services.kafka.FetchPace``).
    kafka_fetch_busy_wait_ms: int = 200
