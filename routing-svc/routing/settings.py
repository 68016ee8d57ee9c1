from pathlib import Path

from services.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    port: int = 8002
    #: Organisation and rules loaded at start-up when the tables are empty.
    routing_seed_file: Path | None = Path(__file__).parent / "data" / "sample_org.yaml"
    #: Where a case goes when no unit of its branch (or any parent) can take it.
    default_unit: str = "HO.cs"
    #: How often the queue worker looks for waiting cases that now fit somewhere.
    queue_drain_seconds: float = 5.0
