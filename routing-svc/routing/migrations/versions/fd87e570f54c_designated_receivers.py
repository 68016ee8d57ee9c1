"""designated receivers

Revision ID: fd87e570f54c
Revises: a60f189109a7
Create Date: 2026-11-23 19:00:50.359110
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.migrate import schema_of

SCHEMA = "routing"


revision: str = "fd87e570f54c"
down_revision: str | None = "a60f189109a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    op.add_column(
        "staff",
        sa.Column(
            "designated_receiver",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="owns letters and online complaints that name no receiver (DOMAIN.md section 3)",
        ),
        schema=schema,
    )


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    op.drop_column("staff", "designated_receiver", schema=schema)
