"""stream bookkeeping: broker clusters, publish sequences, watermarks

Revision ID: 136c43ce18ad
Revises: 30a643edab5e
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v3, drop_runtime_tables_v3

SCHEMA = "sla"

revision: str = "136c43ce18ad"
down_revision: str | None = "30a643edab5e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v3(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v3(op, schema_of(SCHEMA))
