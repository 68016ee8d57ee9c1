"""branch head and staff email

Revision ID: 71fdfeb43775
Revises: dc4a1ac32dc0
Create Date: 2026-11-23 21:30:28.589636
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.migrate import schema_of

SCHEMA = "routing"


revision: str = "71fdfeb43775"
down_revision: str | None = "dc4a1ac32dc0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    op.add_column(
        "branches",
        sa.Column("head", sa.String(length=64), nullable=True, comment="staff id of the branch head"),
        schema=schema,
    )
    op.add_column(
        "staff",
        sa.Column("email", sa.String(length=254), nullable=True, comment="work e-mail address (notifications)"),
        schema=schema,
    )


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    op.drop_column("staff", "email", schema=schema)
    op.drop_column("branches", "head", schema=schema)
