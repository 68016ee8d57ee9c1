"""routing-svc's tables, all in schema ``routing``."""

from sqlalchemy import JSON, Boolean, Column, Index, Integer, MetaData, String, Table, Uuid, false

from services.database import UTCDateTime
from services.tables import BigId, runtime_tables

SCHEMA = "routing"
metadata = MetaData(schema=SCHEMA)
runtime = runtime_tables(metadata, "routing-svc")

#: Branches (head office, provincial, city, sub-branch) form a tree by ``parent``.
branches = Table(
    "branches",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("parent", String(32)),
    Column(
        "kind",
        String(32),
        nullable=False,
        server_default="branch",
        comment="head_office | provincial | city | sub_branch | call_centre",
    ),
    Column("head", String(64), comment="staff id of the branch head"),
)

#: Teams within a branch; code is ``<branch>.<team>``, e.g. ``GD-SZ.claims``.
units = Table(
    "units",
    metadata,
    Column("code", String(100), primary_key=True),
    Column("branch_code", String(32), nullable=False),
    Column("team", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("capacity_points", Integer, comment="a member's daily capacity in effort points; null: the standard 300"),
    Column("weights", JSON, comment="effort points per kind (and tier), overriding the standard weights"),
)

staff = Table(
    "staff",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("unit_code", String(100), nullable=False, index=True),
    Column("on_duty", Boolean, nullable=False),
    Column("open_cases", Integer, nullable=False, server_default="0", comment="cases assigned and not closed"),
    Column("load_points", Integer, nullable=False, server_default="0", comment="effort points of the open cases"),
    Column("capacity_points", Integer, comment="this person's capacity; null: the unit's"),
    Column("skills", JSON, nullable=False, server_default="{}", comment="categories, lines_of_business, languages"),
    Column("role", String(16), nullable=False, server_default="member", comment="member | lead"),
    Column("last_assigned_at", UTCDateTime(), comment="for round-robin among equals"),
    Column(
        "designated_receiver",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="owns letters and online complaints that name no receiver (DOMAIN.md section 3)",
    ),
    Column("email", String(254), comment="work e-mail address (notifications)"),
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
    Column("channel", String(32)),
    Column("line_of_business", String(32)),
    Column("agent_involved", Boolean, comment="matches cases that name (true) or do not name (false) a sales agent"),
    Column("case_priority", Integer, nullable=False, server_default="5", comment="1 most urgent .. 9"),
    Column(
        "work_order",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="the case goes to the branch as a work order (工单)",
    ),
    Column(
        "inform",
        JSON,
        nullable=False,
        server_default="[]",
        comment="units told at once, e.g. head office for a major complaint",
    ),
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
    Column("status", String(16), nullable=False, server_default="open", comment="open | closed"),
    Column("queued_since", UTCDateTime(), comment="waiting in the unit's queue for someone with capacity"),
    Column("priority", Integer, nullable=False, server_default="5"),
    Column("weight", Integer, nullable=False, server_default="0", comment="effort points counted against the assignee"),
    Column("kind", String(32)),
    Column("tier", String(32)),
    Column("category", String(32)),
    Column("channel", String(32)),
    Column("line_of_business", String(32)),
    Column("agent_code", String(100)),
)
Index("ix_assignments_queue", assignments.c.unit, assignments.c.queued_since)

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
