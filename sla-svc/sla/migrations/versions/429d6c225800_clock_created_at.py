"""clock created at

Revision ID: 429d6c225800
Revises: 7136069e1961
Create Date: 2026-11-23 19:04:22.055095
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.database import UTCDateTime
from services.migrate import schema_of

SCHEMA = "sla"


revision: str = "429d6c225800"
down_revision: str | None = "7136069e1961"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    op.add_column(
        "clocks",
        sa.Column(
            "created_at",
            UTCDateTime(),
            nullable=True,
            comment="when sla-svc started the clock (not when the case was received)",
        ),
        schema=schema,
    )


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    op.drop_column("clocks", "created_at", schema=schema)
