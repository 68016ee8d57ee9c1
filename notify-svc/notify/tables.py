"""notify-svc's tables, all in schema ``notify``.

A delivery is one event for one subscription (unique together: told once); each
try to deliver it is an attempt, kept for ``GET /v1/deliveries``.
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from services.database import UTCDateTime
from services.tables import BigId, runtime_tables

SCHEMA = "notify"
metadata = MetaData(schema=SCHEMA)
runtime = runtime_tables(metadata)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("events", JSON, nullable=False),
    Column("branch_code", String(32)),
    Column("levels", JSON),
    Column("secret_enc", Text, nullable=False, comment="signing secret, encrypted"),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("subscription_id", Uuid, ForeignKey(subscriptions.c.id), nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("case_id", Uuid, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False, comment="pending | delivered | dead"),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("subscription_id", "event_id", name="uq_deliveries_subscription_event"),
)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_deliveries_created", deliveries.c.created_at)

attempts = Table(
    "attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("delivery_id", Uuid, ForeignKey(deliveries.c.id), nullable=False, index=True),
    Column("attempt_no", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("status_code", Integer),
    Column("error", String(500)),
    Column("latency_ms", Integer, nullable=False),
)
