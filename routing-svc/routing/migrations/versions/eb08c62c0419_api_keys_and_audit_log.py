"""api keys and audit log

Revision ID: eb08c62c0419
Revises: 71fdfeb43775
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v2, drop_runtime_tables_v2

SCHEMA = "routing"

revision: str = "eb08c62c0419"
down_revision: str | None = "71fdfeb43775"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v2(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v2(op, schema_of(SCHEMA))
