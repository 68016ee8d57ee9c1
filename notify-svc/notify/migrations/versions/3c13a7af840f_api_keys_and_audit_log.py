"""api keys and audit log

Revision ID: 3c13a7af840f
Revises: ba3a4e2e8f6d
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v2, drop_runtime_tables_v2

SCHEMA = "notify"

revision: str = "3c13a7af840f"
down_revision: str | None = "ba3a4e2e8f6d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v2(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v2(op, schema_of(SCHEMA))
