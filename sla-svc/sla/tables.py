"""sla-svc's tables, all in schema ``sla``.

A clock is one time limit of one case (one row per case and clock name); its
timers are the durable moments at which something must be said (warnings, the
breach, escalations). The timer table, not memory, is what makes a breach fire
after a restart, once.
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    false,
    text,
)

from services.database import UTCDateTime
from services.tables import BigId, runtime_tables

SCHEMA = "sla"
metadata = MetaData(schema=SCHEMA)
runtime = runtime_tables(metadata, "sla-svc")

calendars = Table(
    "calendars",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("timezone", String(64), nullable=False),
    Column("business_hours", JSON, nullable=False, comment='[["08:30","12:00"],["13:30","17:30"]]'),
    Column(
        "branch_prefixes", JSON, nullable=False, comment="branches using it (code or code prefix); [] = the default"
    ),
    Column("description", String(300), nullable=False),
)

holidays = Table(
    "holidays",
    metadata,
    Column("calendar", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("kind", String(8), nullable=False, comment="off (holiday) | work (make-up working day)"),
    Column("name", String(100), nullable=False),
)

calendar_years = Table(
    "calendar_years",
    metadata,
    Column("calendar", String(32), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("source", String(300), nullable=False),
    Column(
        "provisional",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="statutory holidays only: the State Council's notice is not loaded yet",
    ),
)

policies = Table(
    "policies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("priority", Integer, nullable=False),
    Column("description", String(300), nullable=False),
    Column("match", JSON, nullable=False),
    Column("clocks", JSON, nullable=False),
)

#: What sla-svc knows of each case, from the events (its own projection).
cases = Table(
    "cases",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("case_no", String(64), comment="intake's case number (null before this version)"),
    Column("kind", String(32), nullable=False),
    Column("tier", String(32)),
    Column("category", String(32)),
    Column("channel", String(32), nullable=False),
    Column("branch_code", String(32), nullable=False),
    Column("agent_code", String(100)),
    Column("status", String(32), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("policy", String(64), nullable=False),
    Column("calendar", String(32), nullable=False),
)

clocks = Table(
    "clocks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", Uuid, nullable=False),
    Column("clock", String(64), nullable=False),
    Column("policy", String(64), nullable=False),
    Column("branch_code", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("tier", String(32)),
    Column("state", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("stopped_at", UTCDateTime()),
    Column("breached_at", UTCDateTime()),
    Column("rule", String(500), nullable=False),
    Column("calendar_warning", String(300)),
    Column("created_at", UTCDateTime(), comment="when sla-svc started the clock (not when the case was received)"),
    UniqueConstraint("case_id", "clock", name="uq_clocks_case_clock"),
)
Index("ix_clocks_breached", clocks.c.state, clocks.c.branch_code)

#: The plan of a clock: its target, pauses and extensions (one row per clock).
clock_plans = Table(
    "clock_plans",
    metadata,
    Column("clock_id", BigId, ForeignKey(clocks.c.id), primary_key=True, autoincrement=False),
    Column("calendar", String(32), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("amount", Float, nullable=False),
    Column("paused_at", UTCDateTime()),
    Column(
        "paused_total", Integer, nullable=False, server_default="0", comment="paused time in the clock's measure (s)"
    ),
    Column("pauses", JSON, nullable=False, server_default="[]"),
    Column("extensions", JSON, nullable=False, server_default="[]"),
    Column(
        "changes", JSON, nullable=False, server_default="[]", comment="re-plans: reclassification, transfer, calendar"
    ),
    Column("run", Integer, nullable=False, server_default="1", comment="restarts (reopen) start a new run"),
    Column("last_level", String(32)),
    Column("spec", JSON, nullable=False, comment="the policy's clock definition this run follows"),
)

timers = Table(
    "timers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("clock_id", BigId, ForeignKey(clocks.c.id), nullable=False),
    Column("level", String(32), nullable=False),
    Column("key", String(32), nullable=False, server_default="breach", comment="which warning/escalation of this run"),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("fired_at", UTCDateTime()),
    UniqueConstraint("clock_id", "key", name="uq_timers_clock_key"),
)
Index(
    "ix_timers_pending",
    timers.c.due_at,
    postgresql_where=text("fired_at IS NULL"),
    sqlite_where=text("fired_at IS NULL"),
)

#: Every event sla-svc has seen for a case, so clocks can start from events that came
#: before the case itself (another topic) or before a reclassification.
case_events = Table(
    "case_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", Uuid, nullable=False, index=True),
    Column("event", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)

#: Who to tell about a case, from ``case.transferred`` (which may arrive before ``case.created``).
case_parties = Table(
    "case_parties",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("unit", String(100)),
    Column("assignee", String(64)),
    Column("owner", String(64)),
    Column("updated_at", UTCDateTime(), nullable=False),
)
