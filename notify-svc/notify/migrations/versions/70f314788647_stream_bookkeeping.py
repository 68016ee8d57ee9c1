"""stream bookkeeping: broker clusters, publish sequences, watermarks

Revision ID: 70f314788647
Revises: 3c13a7af840f
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v3, drop_runtime_tables_v3

SCHEMA = "notify"

revision: str = "70f314788647"
down_revision: str | None = "3c13a7af840f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v3(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v3(op, schema_of(SCHEMA))
