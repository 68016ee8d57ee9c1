"""stream bookkeeping: broker clusters, publish sequences, watermarks

Revision ID: be32c48707e6
Revises: eb08c62c0419
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v3, drop_runtime_tables_v3

SCHEMA = "routing"

revision: str = "be32c48707e6"
down_revision: str | None = "eb08c62c0419"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v3(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v3(op, schema_of(SCHEMA))
