"""room on each page of cases for the updates a case gets (decision 0022)

A case row is updated soon after it is written (routing's assignment names its holder,
later its lifecycle moves it on). With full pages, Postgres writes the new version on
another page and adds an entry to every one of the table's ten indexes; with room left
on the page, the update is heap-only (HOT) and touches no index when no indexed column
changed. Applies to pages written from now on; no rewrite. Postgres only.

Revision ID: f2a3b4c5d6e7
Revises: e1f2a3b4c5d6
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of
from services.table_migrations import set_fillfactor

SCHEMA = "intake"

revision: str = "f2a3b4c5d6e7"
down_revision: str | None = "e1f2a3b4c5d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    set_fillfactor(op, schema_of(SCHEMA), "cases", 85)


def downgrade() -> None:
    set_fillfactor(op, schema_of(SCHEMA), "cases", None)
