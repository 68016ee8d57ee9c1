"""initial

Revision ID: 9bd84b8e5ea8
Revises:
Create Date: 2026-11-23 18:29:03.989917
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.database import UTCDateTime
from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v1, drop_runtime_tables_v1

SCHEMA = "intake"

revision: str = "9bd84b8e5ea8"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    create_runtime_tables_v1(op, schema)
    op.create_table(
        "case_counters",
        sa.Column("branch_code", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("branch_code", "day"),
        schema=schema,
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_no", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("branch_code", sa.String(length=32), nullable=False),
        sa.Column("line_of_business", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("phone_masked", sa.String(length=32), nullable=False),
        sa.Column("id_number_enc", sa.Text(), nullable=True),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("id_number_masked", sa.String(length=32), nullable=True),
        sa.Column("policy_no", sa.String(length=100), nullable=True),
        sa.Column("complainant_count", sa.Integer(), nullable=False),
        sa.Column("agent_code", sa.String(length=100), nullable=True),
        sa.Column("source_ref", sa.String(length=100), nullable=True),
        sa.Column("major_reasons", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_no"),
        sa.UniqueConstraint("channel", "source_ref", name="uq_cases_channel_source_ref"),
        schema=schema,
    )
    op.create_index(
        "ix_cases_branch_received",
        "cases",
        ["branch_code", sa.literal_column("received_at DESC")],
        unique=False,
        schema=schema,
    )
    op.create_index("ix_cases_phone_hash", "cases", ["phone_hash"], unique=False, schema=schema)
    op.create_index(
        "ix_cases_received",
        "cases",
        [sa.literal_column("received_at DESC"), sa.literal_column("id DESC")],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        schema=schema,
    )


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    drop_runtime_tables_v1(op, schema)
    op.drop_table("idempotency_keys", schema=schema)
    op.drop_index("ix_cases_received", table_name="cases", schema=schema)
    op.drop_index("ix_cases_phone_hash", table_name="cases", schema=schema)
    op.drop_index("ix_cases_branch_received", table_name="cases", schema=schema)
    op.drop_table("cases", schema=schema)
    op.drop_table("case_counters", schema=schema)
