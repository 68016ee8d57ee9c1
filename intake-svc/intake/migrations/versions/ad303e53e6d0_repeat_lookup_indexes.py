"""repeat lookup indexes

Revision ID: ad303e53e6d0
Revises: c9431a136662
Create Date: 2026-11-23 20:40:31.406207
"""

from collections.abc import Sequence

from alembic import op

from services.migrate import schema_of

SCHEMA = "intake"


revision: str = "ad303e53e6d0"
down_revision: str | None = "c9431a136662"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    op.drop_index(op.f("ix_cases_id_number_hash"), table_name="cases", schema=schema)
    op.drop_index(op.f("ix_cases_phone_hash"), table_name="cases", schema=schema)
    op.create_index(
        "ix_cases_id_number_received", "cases", ["id_number_hash", "received_at"], unique=False, schema=schema
    )
    op.create_index("ix_cases_phone_received", "cases", ["phone_hash", "received_at"], unique=False, schema=schema)


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    op.drop_index("ix_cases_phone_received", table_name="cases", schema=schema)
    op.drop_index("ix_cases_id_number_received", table_name="cases", schema=schema)
    op.create_index(op.f("ix_cases_phone_hash"), "cases", ["phone_hash"], unique=False, schema=schema)
    op.create_index(op.f("ix_cases_id_number_hash"), "cases", ["id_number_hash"], unique=False, schema=schema)
