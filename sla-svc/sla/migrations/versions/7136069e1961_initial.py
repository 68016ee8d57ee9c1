"""initial

Revision ID: 7136069e1961
Revises:
Create Date: 2026-11-23 18:29:06.220647
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.database import UTCDateTime
from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v1, drop_runtime_tables_v1
from services.tables import BigId

SCHEMA = "sla"

revision: str = "7136069e1961"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    create_runtime_tables_v1(op, schema)
    op.create_table(
        "calendar_years",
        sa.Column("calendar", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("calendar", "year"),
        schema=schema,
    )
    op.create_table(
        "case_parties",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("unit", sa.String(length=100), nullable=True),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        schema=schema,
    )
    op.create_table(
        "clocks",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("clock", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("branch_code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.Column("breached_at", UTCDateTime(), nullable=True),
        sa.Column("rule", sa.String(length=500), nullable=False),
        sa.Column("calendar_warning", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "clock", name="uq_clocks_case_clock"),
        schema=schema,
    )
    op.create_index("ix_clocks_breached", "clocks", ["state", "branch_code"], unique=False, schema=schema)
    op.create_table(
        "holidays",
        sa.Column("calendar", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False, comment="off (holiday) | work (make-up working day)"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("calendar", "day"),
        schema=schema,
    )
    op.create_table(
        "timers",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("clock_id", BigId, nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clock_id"],
            ["sla.clocks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clock_id", "level", name="uq_timers_clock_level"),
        schema=schema,
    )
    op.create_index(
        "ix_timers_pending",
        "timers",
        ["due_at"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("fired_at IS NULL"),
        sqlite_where=sa.text("fired_at IS NULL"),
    )


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    drop_runtime_tables_v1(op, schema)
    op.drop_index(
        "ix_timers_pending",
        table_name="timers",
        schema=schema,
        postgresql_where=sa.text("fired_at IS NULL"),
        sqlite_where=sa.text("fired_at IS NULL"),
    )
    op.drop_table("timers", schema=schema)
    op.drop_table("holidays", schema=schema)
    op.drop_index("ix_clocks_breached", table_name="clocks", schema=schema)
    op.drop_table("clocks", schema=schema)
    op.drop_table("case_parties", schema=schema)
    op.drop_table("calendar_years", schema=schema)
