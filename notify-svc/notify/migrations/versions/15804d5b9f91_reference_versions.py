"""reference-data stamps (services.reference)

Revision ID: 15804d5b9f91
Revises: b368e6e1b02f
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v4, drop_runtime_tables_v4

SCHEMA = "notify"

revision: str = "15804d5b9f91"
down_revision: str | None = "b368e6e1b02f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v4(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v4(op, schema_of(SCHEMA))
