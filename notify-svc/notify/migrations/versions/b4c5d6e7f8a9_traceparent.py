"""traces: the outbox row keeps the traceparent of the work that staged it (and each delivery)

Revision ID: b4c5d6e7f8a9
Revises: 15804d5b9f91
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v5, drop_runtime_tables_v5

SCHEMA = "notify"

revision: str = "b4c5d6e7f8a9"
down_revision: str | None = "15804d5b9f91"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v5(op, schema_of(SCHEMA))
    with op.batch_alter_table("deliveries", schema=schema_of(SCHEMA)) as batch:
        batch.add_column(
            sa.Column("traceparent", sa.String(length=55), nullable=True, comment="W3C trace context, when traced")
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=schema_of(SCHEMA)) as batch:
        batch.drop_column("traceparent")
    drop_runtime_tables_v5(op, schema_of(SCHEMA))
