"""api keys and audit log

Revision ID: 30a643edab5e
Revises: 084240f10bbc
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v2, drop_runtime_tables_v2

SCHEMA = "sla"

revision: str = "30a643edab5e"
down_revision: str | None = "084240f10bbc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v2(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v2(op, schema_of(SCHEMA))
