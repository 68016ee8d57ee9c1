"""notify-svc's tables, all in schema ``notify``.

A delivery is one notification for one recipient on one channel: unique by
(event, recipient, channel), so a redelivered event or two overlapping
subscriptions never tell anyone twice. Each try is an attempt, kept for
``GET /v1/deliveries``. ``cases`` is notify's own view of each case, built from
the events (who holds it, how serious it is), so that recipients can be resolved
without reading another service's tables.
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
    false,
)

from services.database import UTCDateTime
from services.tables import BigId, runtime_tables

SCHEMA = "notify"
metadata = MetaData(schema=SCHEMA)
runtime = runtime_tables(metadata, "notify-svc")

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200)),
    Column("channel", String(32), nullable=False),
    Column("target", String(2000), comment="fixed address; null when recipients are resolved per case"),
    Column("recipients", JSON, nullable=False, server_default="[]"),
    Column("events", JSON, nullable=False),
    Column("filters", JSON, nullable=False, server_default="{}"),
    Column("mode", String(16), nullable=False, server_default="immediate"),
    Column("locale", String(8), nullable=False, server_default="zh-CN"),
    Column("builtin", Boolean, nullable=False, server_default=false()),
    Column("secret_enc", Text, comment="signing secret, encrypted"),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("subscription_id", Uuid, ForeignKey(subscriptions.c.id), nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", String(64), nullable=False, comment="the notification, e.g. sla.breach"),
    Column("case_id", Uuid, comment="null for an ops alert about the platform itself"),
    Column("channel", String(32), nullable=False, server_default="webhook"),
    Column("recipient", String(200), nullable=False, comment="staff:<id> | customer | subscription:<id>"),
    Column("mode", String(16), nullable=False, server_default="immediate"),
    Column("body", Text, nullable=False, comment="the event envelope"),
    Column("facts", JSON, nullable=False, server_default="{}", comment="the case as known when the event came"),
    Column("status", String(16), nullable=False, comment="pending | delivered | dead | suppressed | skipped"),
    Column("attempts", Integer, nullable=False),
    Column("budget_from", Integer, nullable=False, server_default="0", comment="attempts before the last resend"),
    Column("next_attempt_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("traceparent", String(55), comment="W3C trace context, when traced (services.tracing)"),
    UniqueConstraint("event_id", "recipient", "channel", name="uq_deliveries_event_recipient_channel"),
)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_deliveries_digest", deliveries.c.recipient, deliveries.c.channel, deliveries.c.status)
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

#: notify's view of each case, from the events; no personal data.
cases = Table(
    "cases",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("case_no", String(64)),
    Column("kind", String(32)),
    Column("tier", String(32)),
    Column("category", String(32)),
    Column("branch_code", String(32)),
    Column("unit", String(100)),
    Column("assignee", String(64)),
    Column("owner", String(64)),
    Column("status", String(32)),
    Column("major", Boolean, nullable=False, server_default=false()),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: Ops' own wording of a notification; absent rows mean the shipped default.
templates = Table(
    "templates",
    metadata,
    Column("event", String(64), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("locale", String(8), primary_key=True),
    Column("subject", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: Customers who asked not to be texted, by keyed hash of the phone number.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("phone_hash", String(64), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
)

#: The live feed behind ``GET /v1/feed`` (Server-Sent Events): ``id`` is the SSE event id.
feed = Table(
    "feed",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("event", String(64), nullable=False),
    Column("case_id", Uuid, nullable=False),
    Column("branch_code", String(32)),
    Column("at", UTCDateTime(), nullable=False),
    Column("data", JSON, nullable=False),
)

#: The last organisation document read from routing-svc, so a restart can resolve
#: recipients before routing-svc answers again.
directory = Table(
    "directory",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("document", JSON, nullable=False),
    Column("fetched_at", UTCDateTime(), nullable=False),
)
