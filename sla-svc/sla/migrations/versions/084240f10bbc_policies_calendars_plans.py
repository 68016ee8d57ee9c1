"""policies calendars plans

Revision ID: 084240f10bbc
Revises: 429d6c225800
Create Date: 2026-11-23 19:32:23.440304
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.database import UTCDateTime
from services.migrate import schema_of
from services.tables import BigId

SCHEMA = "sla"


revision: str = "084240f10bbc"
down_revision: str | None = "429d6c225800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    op.create_table(
        "calendars",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("business_hours", sa.JSON(), nullable=False, comment='[["08:30","12:00"],["13:30","17:30"]]'),
        sa.Column(
            "branch_prefixes",
            sa.JSON(),
            nullable=False,
            comment="branches using it (code or code prefix); [] = the default",
        ),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        schema=schema,
    )
    op.create_table(
        "case_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(op.f("ix_sla_case_events_case_id"), "case_events", ["case_id"], unique=False, schema=schema)
    op.create_table(
        "cases",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("branch_code", sa.String(length=32), nullable=False),
        sa.Column("agent_code", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("calendar", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        schema=schema,
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("match", sa.JSON(), nullable=False),
        sa.Column("clocks", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_table(
        "clock_plans",
        sa.Column("clock_id", BigId, autoincrement=False, nullable=False),
        sa.Column("calendar", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column(
            "paused_total",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="paused time in the clock's measure (s)",
        ),
        sa.Column("pauses", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("extensions", sa.JSON(), server_default="[]", nullable=False),
        sa.Column(
            "changes",
            sa.JSON(),
            server_default="[]",
            nullable=False,
            comment="re-plans: reclassification, transfer, calendar",
        ),
        sa.Column("run", sa.Integer(), server_default="1", nullable=False, comment="restarts (reopen) start a new run"),
        sa.Column("last_level", sa.String(length=32), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False, comment="the policy's clock definition this run follows"),
        sa.ForeignKeyConstraint(
            ["clock_id"],
            ["sla.clocks.id"],
        ),
        sa.PrimaryKeyConstraint("clock_id"),
        schema=schema,
    )
    # SQLite cannot drop a constraint in place: batch mode rebuilds the table there.
    with op.batch_alter_table("timers", schema=schema) as batch:
        batch.add_column(
            sa.Column(
                "key",
                sa.String(length=32),
                server_default="breach",
                nullable=False,
                comment="which warning/escalation of this run",
            )
        )
        batch.drop_constraint("uq_timers_clock_level", type_="unique")
        batch.create_unique_constraint("uq_timers_clock_key", ["clock_id", "key"])


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    with op.batch_alter_table("timers", schema=schema) as batch:
        batch.drop_constraint("uq_timers_clock_key", type_="unique")
        batch.create_unique_constraint("uq_timers_clock_level", ["clock_id", "level"])
        batch.drop_column("key")
    op.drop_table("clock_plans", schema=schema)
    op.drop_table("policies", schema=schema)
    op.drop_table("cases", schema=schema)
    op.drop_index(op.f("ix_sla_case_events_case_id"), table_name="case_events", schema=schema)
    op.drop_table("case_events", schema=schema)
    op.drop_table("calendars", schema=schema)
