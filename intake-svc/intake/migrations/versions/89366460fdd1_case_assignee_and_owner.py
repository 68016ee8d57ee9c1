"""case assignee and owner

Revision ID: 89366460fdd1
Revises: bc8f8a43fce7
Create Date: 2026-11-23 21:57:50.144373
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.migrate import schema_of

SCHEMA = "intake"


revision: str = "89366460fdd1"
down_revision: str | None = "bc8f8a43fce7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    op.add_column(
        "cases",
        sa.Column(
            "assignee", sa.String(length=64), nullable=True, comment="who holds the case now (from case.transferred)"
        ),
        schema=schema,
    )
    op.add_column(
        "cases",
        sa.Column("owner", sa.String(length=64), nullable=True, comment="first responder (from case.transferred)"),
        schema=schema,
    )


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    op.drop_column("cases", "owner", schema=schema)
    op.drop_column("cases", "assignee", schema=schema)
