"""api keys and audit log

Revision ID: bc8f8a43fce7
Revises: ad303e53e6d0
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v2, drop_runtime_tables_v2

SCHEMA = "intake"

revision: str = "bc8f8a43fce7"
down_revision: str | None = "ad303e53e6d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v2(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v2(op, schema_of(SCHEMA))
