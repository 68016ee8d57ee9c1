"""ops alerts: deliveries without a case

Revision ID: b368e6e1b02f
Revises: 70f314788647
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.migrate import schema_of

SCHEMA = "notify"

revision: str = "b368e6e1b02f"
down_revision: str | None = "70f314788647"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=schema_of(SCHEMA)) as batch:
        batch.alter_column(
            "case_id",
            existing_type=sa.Uuid(),
            nullable=True,
            comment="null for an ops alert about the platform itself",
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=schema_of(SCHEMA)) as batch:
        batch.alter_column("case_id", existing_type=sa.Uuid(), nullable=False, comment=None)
