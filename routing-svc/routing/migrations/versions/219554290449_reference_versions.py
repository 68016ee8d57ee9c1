"""reference-data stamps (services.reference)

Revision ID: 219554290449
Revises: be32c48707e6
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v4, drop_runtime_tables_v4

SCHEMA = "routing"

revision: str = "219554290449"
down_revision: str | None = "be32c48707e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v4(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v4(op, schema_of(SCHEMA))
