"""reference-data stamps (services.reference)

Revision ID: 294bba05263a
Revises: 30b854c07d2b
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v4, drop_runtime_tables_v4

SCHEMA = "sla"

revision: str = "294bba05263a"
down_revision: str | None = "30b854c07d2b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v4(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v4(op, schema_of(SCHEMA))
