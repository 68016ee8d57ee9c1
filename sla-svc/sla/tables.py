"""sla-svc's tables, all in schema ``sla``.

A clock is one time limit of one case; its timers are the durable moments at
which something must be said (breach now; warnings and escalations later). The
timer table, not memory, is what makes a breach fire after a restart.
"""

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, MetaData, String, Table, UniqueConstraint, Uuid, text

from services.database import UTCDateTime
from services.tables import BigId, runtime_tables

SCHEMA = "sla"
metadata = MetaData(schema=SCHEMA)
runtime = runtime_tables(metadata)

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

timers = Table(
    "timers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("clock_id", BigId, ForeignKey(clocks.c.id), nullable=False),
    Column("level", String(32), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("fired_at", UTCDateTime()),
    UniqueConstraint("clock_id", "level", name="uq_timers_clock_level"),
)
Index(
    "ix_timers_pending",
    timers.c.due_at,
    postgresql_where=text("fired_at IS NULL"),
    sqlite_where=text("fired_at IS NULL"),
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
