"""traces: the outbox row keeps the traceparent of the work that staged it

Revision ID: e1f2a3b4c5d6
Revises: 3fc0924d540d
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import create_runtime_tables_v5, drop_runtime_tables_v5

SCHEMA = "intake"

revision: str = "e1f2a3b4c5d6"
down_revision: str | None = "3fc0924d540d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_runtime_tables_v5(op, schema_of(SCHEMA))


def downgrade() -> None:
    drop_runtime_tables_v5(op, schema_of(SCHEMA))
