"""initial

Revision ID: 431bb65b258b
Revises:
Create Date: 2026-11-23 18:29:07.330095
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.database import UTCDateTime
from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v1, drop_runtime_tables_v1
from services.tables import BigId

SCHEMA = "notify"

revision: str = "431bb65b258b"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    create_runtime_tables_v1(op, schema)
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("branch_code", sa.String(length=32), nullable=True),
        sa.Column("levels", sa.JSON(), nullable=True),
        sa.Column("secret_enc", sa.Text(), nullable=False, comment="signing secret, encrypted"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, comment="pending | delivered | dead"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["notify.subscriptions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_deliveries_subscription_event"),
        schema=schema,
    )
    op.create_index("ix_deliveries_created", "deliveries", ["created_at"], unique=False, schema=schema)
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"], unique=False, schema=schema)
    op.create_table(
        "attempts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notify.deliveries.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(op.f("ix_notify_attempts_delivery_id"), "attempts", ["delivery_id"], unique=False, schema=schema)


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    drop_runtime_tables_v1(op, schema)
    op.drop_index(op.f("ix_notify_attempts_delivery_id"), table_name="attempts", schema=schema)
    op.drop_table("attempts", schema=schema)
    op.drop_index("ix_deliveries_due", table_name="deliveries", schema=schema)
    op.drop_index("ix_deliveries_created", table_name="deliveries", schema=schema)
    op.drop_table("deliveries", schema=schema)
    op.drop_table("subscriptions", schema=schema)
