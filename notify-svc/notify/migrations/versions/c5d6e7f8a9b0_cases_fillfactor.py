"""room on each page of notify's cases for the updates a case gets (decision 0022)

notify keeps each case's holder and state up to date from the events it reads; with
full pages most of those updates moved the row to another page and added an entry to
each of its indexes. With room left on the page, an update that changes no indexed
column is heap-only (HOT). Applies to pages written from now on; no rewrite. Postgres
only.

Revision ID: c5d6e7f8a9b0
Revises: b4c5d6e7f8a9
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import set_fillfactor

SCHEMA = "notify"

revision: str = "c5d6e7f8a9b0"
down_revision: str | None = "b4c5d6e7f8a9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_fillfactor(op, schema_of(SCHEMA), "cases", 85)


def downgrade() -> None:
    set_fillfactor(op, schema_of(SCHEMA), "cases", None)
