"""channels recipients digests templates feed

Revision ID: ba3a4e2e8f6d
Revises: 431bb65b258b
Create Date: 2026-11-23 21:36:31.621748
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.database import UTCDateTime
from services.migrate import schema_of
from services.tables import BigId

SCHEMA = "notify"


revision: str = "ba3a4e2e8f6d"
down_revision: str | None = "431bb65b258b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    op.create_table(
        "cases",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("case_no", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("branch_code", sa.String(length=32), nullable=True),
        sa.Column("unit", sa.String(length=100), nullable=True),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("major", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
        schema=schema,
    )
    op.create_table(
        "directory",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        schema=schema,
    )
    op.create_table(
        "feed",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("branch_code", sa.String(length=32), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
        schema=schema,
    )
    op.create_table(
        "opt_outs",
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone_hash"),
        schema=schema,
    )
    op.create_table(
        "templates",
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event", "channel", "locale"),
        schema=schema,
    )
    with op.batch_alter_table("deliveries", schema=schema) as batch:
        batch.add_column(sa.Column("channel", sa.String(length=32), server_default="webhook", nullable=False))
        batch.add_column(
            sa.Column(
                "recipient",
                sa.String(length=200),
                server_default="",
                nullable=False,
                comment="staff:<id> | customer | subscription:<id>",
            )
        )
        batch.add_column(sa.Column("mode", sa.String(length=16), server_default="immediate", nullable=False))
        batch.add_column(
            sa.Column(
                "facts", sa.JSON(), server_default="{}", nullable=False, comment="the case as known when the event came"
            )
        )
        batch.add_column(
            sa.Column(
                "budget_from",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="attempts before the last resend",
            )
        )
        batch.drop_constraint("uq_deliveries_subscription_event", type_="unique")
    # Deliveries made before recipients existed went to their subscription's target.
    deliveries = sa.table(
        "deliveries", sa.column("recipient", sa.String), sa.column("subscription_id", sa.String), schema=schema
    )
    subscription_id = sa.cast(deliveries.c.subscription_id, sa.String)
    op.execute(deliveries.update().values(recipient=sa.literal("subscription:") + subscription_id))
    with op.batch_alter_table("deliveries", schema=schema) as batch:
        batch.create_index("ix_deliveries_digest", ["recipient", "channel", "status"], unique=False)
        batch.create_unique_constraint("uq_deliveries_event_recipient_channel", ["event_id", "recipient", "channel"])
    with op.batch_alter_table("subscriptions", schema=schema) as batch:
        batch.add_column(sa.Column("name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("recipients", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("filters", sa.JSON(), server_default="{}", nullable=False))
        batch.add_column(sa.Column("mode", sa.String(length=16), server_default="immediate", nullable=False))
        batch.add_column(sa.Column("locale", sa.String(length=8), server_default="zh-CN", nullable=False))
        batch.add_column(sa.Column("builtin", sa.Boolean(), server_default=sa.text("false"), nullable=False))
        batch.alter_column("target", existing_type=sa.VARCHAR(length=2000), nullable=True)
        batch.alter_column("secret_enc", existing_type=sa.TEXT(), nullable=True)
    _move_filters(schema)
    with op.batch_alter_table("subscriptions", schema=schema) as batch:
        batch.drop_column("levels")
        batch.drop_column("branch_code")


def _move_filters(schema: str | None) -> None:
    """branch_code and levels were columns; they are filters now."""
    subs = sa.table(
        "subscriptions",
        sa.column("id", sa.Uuid),
        sa.column("branch_code", sa.String),
        sa.column("levels", sa.JSON),
        sa.column("filters", sa.JSON),
        schema=schema,
    )
    bind = op.get_bind()
    for row in bind.execute(sa.select(subs.c.id, subs.c.branch_code, subs.c.levels)).all():
        filters = {k: v for k, v in (("branch_code", row.branch_code), ("levels", row.levels)) if v}
        bind.execute(subs.update().where(subs.c.id == row.id).values(filters=filters))


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    with op.batch_alter_table("subscriptions", schema=schema) as batch:
        batch.add_column(sa.Column("branch_code", sa.VARCHAR(length=32), nullable=True))
        batch.add_column(sa.Column("levels", sa.JSON(), nullable=True))
        for column in ("builtin", "locale", "mode", "filters", "recipients", "name"):
            batch.drop_column(column)
    with op.batch_alter_table("deliveries", schema=schema) as batch:
        batch.drop_constraint("uq_deliveries_event_recipient_channel", type_="unique")
        batch.drop_index("ix_deliveries_digest")
        for column in ("budget_from", "facts", "mode", "recipient", "channel"):
            batch.drop_column(column)
        batch.create_unique_constraint("uq_deliveries_subscription_event", ["subscription_id", "event_id"])
    for table in ("templates", "opt_outs", "feed", "directory", "cases"):
        op.drop_table(table, schema=schema)
