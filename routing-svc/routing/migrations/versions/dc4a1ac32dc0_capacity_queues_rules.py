"""capacity queues rules

Revision ID: dc4a1ac32dc0
Revises: fd87e570f54c
Create Date: 2026-11-23 19:11:21.037781
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.database import UTCDateTime
from services.migrate import schema_of

SCHEMA = "routing"


revision: str = "dc4a1ac32dc0"
down_revision: str | None = "fd87e570f54c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    op.add_column(
        "assignments",
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False, comment="open | closed"),
        schema=schema,
    )
    op.add_column(
        "assignments",
        sa.Column(
            "queued_since",
            UTCDateTime(),
            nullable=True,
            comment="waiting in the unit's queue for someone with capacity",
        ),
        schema=schema,
    )
    op.add_column("assignments", sa.Column("priority", sa.Integer(), server_default="5", nullable=False), schema=schema)
    op.add_column(
        "assignments",
        sa.Column(
            "weight",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="effort points counted against the assignee",
        ),
        schema=schema,
    )
    op.add_column("assignments", sa.Column("kind", sa.String(length=32), nullable=True), schema=schema)
    op.add_column("assignments", sa.Column("tier", sa.String(length=32), nullable=True), schema=schema)
    op.add_column("assignments", sa.Column("category", sa.String(length=32), nullable=True), schema=schema)
    op.add_column("assignments", sa.Column("channel", sa.String(length=32), nullable=True), schema=schema)
    op.add_column("assignments", sa.Column("line_of_business", sa.String(length=32), nullable=True), schema=schema)
    op.add_column("assignments", sa.Column("agent_code", sa.String(length=100), nullable=True), schema=schema)
    op.create_index("ix_assignments_queue", "assignments", ["unit", "queued_since"], unique=False, schema=schema)
    op.add_column(
        "branches",
        sa.Column(
            "kind",
            sa.String(length=32),
            server_default="branch",
            nullable=False,
            comment="head_office | provincial | city | sub_branch | call_centre",
        ),
        schema=schema,
    )
    op.add_column("rules", sa.Column("channel", sa.String(length=32), nullable=True), schema=schema)
    op.add_column("rules", sa.Column("line_of_business", sa.String(length=32), nullable=True), schema=schema)
    op.add_column(
        "rules",
        sa.Column(
            "agent_involved",
            sa.Boolean(),
            nullable=True,
            comment="matches cases that name (true) or do not name (false) a sales agent",
        ),
        schema=schema,
    )
    op.add_column(
        "rules",
        sa.Column("case_priority", sa.Integer(), server_default="5", nullable=False, comment="1 most urgent .. 9"),
        schema=schema,
    )
    op.add_column(
        "rules",
        sa.Column(
            "work_order",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="the case goes to the branch as a work order (工单)",
        ),
        schema=schema,
    )
    op.add_column(
        "rules",
        sa.Column(
            "inform",
            sa.JSON(),
            server_default="[]",
            nullable=False,
            comment="units told at once, e.g. head office for a major complaint",
        ),
        schema=schema,
    )
    op.add_column(
        "staff",
        sa.Column(
            "load_points", sa.Integer(), server_default="0", nullable=False, comment="effort points of the open cases"
        ),
        schema=schema,
    )
    op.add_column(
        "staff",
        sa.Column("capacity_points", sa.Integer(), nullable=True, comment="this person's capacity; null: the unit's"),
        schema=schema,
    )
    op.add_column(
        "staff",
        sa.Column(
            "skills", sa.JSON(), server_default="{}", nullable=False, comment="categories, lines_of_business, languages"
        ),
        schema=schema,
    )
    op.add_column(
        "staff",
        sa.Column("role", sa.String(length=16), server_default="member", nullable=False, comment="member | lead"),
        schema=schema,
    )
    op.add_column(
        "staff",
        sa.Column("last_assigned_at", UTCDateTime(), nullable=True, comment="for round-robin among equals"),
        schema=schema,
    )
    op.add_column(
        "units",
        sa.Column(
            "capacity_points",
            sa.Integer(),
            nullable=True,
            comment="a member's daily capacity in effort points; null: the standard 300",
        ),
        schema=schema,
    )
    op.add_column(
        "units",
        sa.Column(
            "weights",
            sa.JSON(),
            nullable=True,
            comment="effort points per kind (and tier), overriding the standard weights",
        ),
        schema=schema,
    )


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    op.drop_column("units", "weights", schema=schema)
    op.drop_column("units", "capacity_points", schema=schema)
    op.drop_column("staff", "last_assigned_at", schema=schema)
    op.drop_column("staff", "role", schema=schema)
    op.drop_column("staff", "skills", schema=schema)
    op.drop_column("staff", "capacity_points", schema=schema)
    op.drop_column("staff", "load_points", schema=schema)
    op.drop_column("rules", "inform", schema=schema)
    op.drop_column("rules", "work_order", schema=schema)
    op.drop_column("rules", "case_priority", schema=schema)
    op.drop_column("rules", "agent_involved", schema=schema)
    op.drop_column("rules", "line_of_business", schema=schema)
    op.drop_column("rules", "channel", schema=schema)
    op.drop_column("branches", "kind", schema=schema)
    op.drop_index("ix_assignments_queue", table_name="assignments", schema=schema)
    op.drop_column("assignments", "agent_code", schema=schema)
    op.drop_column("assignments", "line_of_business", schema=schema)
    op.drop_column("assignments", "channel", schema=schema)
    op.drop_column("assignments", "category", schema=schema)
    op.drop_column("assignments", "tier", schema=schema)
    op.drop_column("assignments", "kind", schema=schema)
    op.drop_column("assignments", "weight", schema=schema)
    op.drop_column("assignments", "priority", schema=schema)
    op.drop_column("assignments", "queued_since", schema=schema)
    op.drop_column("assignments", "status", schema=schema)
