"""provisional calendar years (statutory holidays only, before the notice)

Revision ID: 30b854c07d2b
Revises: 136c43ce18ad
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.migrate import schema_of

SCHEMA = "sla"

revision: str = "30b854c07d2b"
down_revision: str | None = "136c43ce18ad"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "calendar_years",
        sa.Column(
            "provisional",
            sa.Boolean(),
            server_default=sa.false(),
            nullable=False,
            comment="statutory holidays only: the State Council's notice is not loaded yet",
        ),
        schema=schema_of(SCHEMA),
    )


def downgrade() -> None:
    with op.batch_alter_table("calendar_years", schema=schema_of(SCHEMA)) as batch:
        batch.drop_column("provisional")
