"""traces: the outbox row keeps the traceparent of the work that staged it

Revision ID: a3b4c5d6e7f8
Revises: 5a1c0e9d2b7f
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v5, drop_runtime_tables_v5

SCHEMA = "sla"

revision: str = "a3b4c5d6e7f8"
down_revision: str | None = "5a1c0e9d2b7f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v5(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v5(op, schema_of(SCHEMA))
