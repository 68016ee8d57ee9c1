"""stream bookkeeping: broker clusters, publish sequences, watermarks

Revision ID: 478468d6e38b
Revises: 89366460fdd1
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v3, drop_runtime_tables_v3

SCHEMA = "intake"

revision: str = "478468d6e38b"
down_revision: str | None = "89366460fdd1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v3(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v3(op, schema_of(SCHEMA))
