"""reference-data stamps (services.reference)

Revision ID: 3fc0924d540d
Revises: 478468d6e38b
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v4, drop_runtime_tables_v4

SCHEMA = "intake"

revision: str = "3fc0924d540d"
down_revision: str | None = "478468d6e38b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v4(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v4(op, schema_of(SCHEMA))
