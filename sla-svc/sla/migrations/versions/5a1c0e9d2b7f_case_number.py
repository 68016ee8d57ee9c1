"""case number on sla's cases, for the due lists (the console's board shows it)

Revision ID: 5a1c0e9d2b7f
Revises: 294bba05263a
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.migrate import schema_of

SCHEMA = "sla"

revision: str = "5a1c0e9d2b7f"
down_revision: str | None = "294bba05263a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "cases",
        sa.Column("case_no", sa.String(64), nullable=True, comment="intake's case number (null before this version)"),
        schema=schema_of(SCHEMA),
    )


def downgrade() -> None:
    op.drop_column("cases", "case_no", schema=schema_of(SCHEMA))
