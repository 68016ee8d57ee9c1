"""routing-svc's tables, all in schema ``routing``."""

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Uuid, false

from services.database import UTCDateTime
from services.tables import BigId, runtime_tables

SCHEMA = "routing"
metadata = MetaData(schema=SCHEMA)
runtime = runtime_tables(metadata)

#: Branches (head office, provincial, city, sub-branch) form a tree by ``parent``.
branches = Table(
    "branches",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("parent", String(32)),
)

#: Teams within a branch; code is ``<branch>.<team>``, e.g. ``GD-SZ.claims``.
units = Table(
    "units",
    metadata,
    Column("code", String(100), primary_key=True),
    Column("branch_code", String(32), nullable=False),
    Column("team", String(64), nullable=False),
    Column("name", String(200), nullable=False),
)

staff = Table(
    "staff",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("unit_code", String(100), nullable=False, index=True),
    Column("on_duty", Boolean, nullable=False),
    Column("open_cases", Integer, nullable=False, server_default="0", comment="cases assigned and not closed"),
    Column(
        "designated_receiver",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="owns letters and online complaints that name no receiver (DOMAIN.md section 3)",
    ),
)

rules = Table(
    "rules",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("priority", Integer, nullable=False, comment="lowest first; first match wins"),
    Column("kind", String(32)),
    Column("tier", String(32)),
    Column("category", String(32)),
    Column("branch_code", String(32)),
    Column("team", String(64), nullable=False, comment="team of the case's branch (or nearest parent) to take it"),
    Column("description", String(300), nullable=False),
)

assignments = Table(
    "assignments",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("branch_code", String(32), nullable=False),
    Column("unit", String(100), nullable=False),
    Column("assignee", String(64), index=True),
    Column("owner", String(64), comment="first responder (首问责任人)"),
    Column("rule_id", String(64)),
    Column("updated_at", UTCDateTime(), nullable=False),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", Uuid, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("from_unit", String(100)),
    Column("to_unit", String(100), nullable=False),
    Column("from_assignee", String(64)),
    Column("to_assignee", String(64)),
    Column("reason", String(300), nullable=False),
    Column("rule_id", String(64)),
    Column("at", UTCDateTime(), nullable=False),
)
Index("ix_transfers_case", transfers.c.case_id, transfers.c.id)
