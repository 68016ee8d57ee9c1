"""initial

Revision ID: a60f189109a7
Revises:
Create Date: 2026-11-23 18:29:05.144280
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.database import UTCDateTime
from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v1, drop_runtime_tables_v1
from services.tables import BigId

SCHEMA = "routing"

revision: str = "a60f189109a7"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    create_runtime_tables_v1(op, schema)
    op.create_table(
        "assignments",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("branch_code", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=100), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=True, comment="first responder (首问责任人)"),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        schema=schema,
    )
    op.create_index(op.f("ix_routing_assignments_assignee"), "assignments", ["assignee"], unique=False, schema=schema)
    op.create_table(
        "branches",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("code"),
        schema=schema,
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False, comment="lowest first; first match wins"),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("branch_code", sa.String(length=32), nullable=True),
        sa.Column(
            "team",
            sa.String(length=64),
            nullable=False,
            comment="team of the case's branch (or nearest parent) to take it",
        ),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit_code", sa.String(length=100), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column(
            "open_cases", sa.Integer(), server_default="0", nullable=False, comment="cases assigned and not closed"
        ),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(op.f("ix_routing_staff_unit_code"), "staff", ["unit_code"], unique=False, schema=schema)
    op.create_table(
        "transfers",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_unit", sa.String(length=100), nullable=True),
        sa.Column("to_unit", sa.String(length=100), nullable=False),
        sa.Column("from_assignee", sa.String(length=64), nullable=True),
        sa.Column("to_assignee", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index("ix_transfers_case", "transfers", ["case_id", "id"], unique=False, schema=schema)
    op.create_table(
        "units",
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("branch_code", sa.String(length=32), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("code"),
        schema=schema,
    )


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    drop_runtime_tables_v1(op, schema)
    op.drop_table("units", schema=schema)
    op.drop_index("ix_transfers_case", table_name="transfers", schema=schema)
    op.drop_table("transfers", schema=schema)
    op.drop_index(op.f("ix_routing_staff_unit_code"), table_name="staff", schema=schema)
    op.drop_table("staff", schema=schema)
    op.drop_table("rules", schema=schema)
    op.drop_table("branches", schema=schema)
    op.drop_index(op.f("ix_routing_assignments_assignee"), table_name="assignments", schema=schema)
    op.drop_table("assignments", schema=schema)
