"""case file lifecycle cti

Revision ID: c9431a136662
Revises: 9bd84b8e5ea8
Create Date: 2026-11-23 18:55:45.748487
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.database import UTCDateTime
from services.migrate import schema_of
from services.tables import BigId

SCHEMA = "intake"

revision: str = "c9431a136662"
down_revision: str | None = "9bd84b8e5ea8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema = schema_of(SCHEMA)
    op.create_table(
        "approvals",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False, comment="payment | written_reply"),
        sa.Column("status", sa.String(length=16), nullable=False, comment="pending | approved | rejected | used"),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("amount", sa.String(length=32), nullable=True),
        sa.Column("resume_status", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(op.f("ix_intake_approvals_case_id"), "approvals", ["case_id"], unique=False, schema=schema)
    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "storage_ref",
            sa.String(length=500),
            nullable=False,
            comment="where the file lives (object store key); not the file",
        ),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(op.f("ix_intake_attachments_case_id"), "attachments", ["case_id"], unique=False, schema=schema)
    op.create_table(
        "case_actions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column(
            "source", sa.String(length=32), nullable=False, comment="intake-svc, or the service whose event this is"
        ),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index("ix_case_actions_case", "case_actions", ["case_id", "id"], unique=False, schema=schema)
    op.create_table(
        "cti_calls",
        sa.Column("call_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False, comment="ringing | answered | ended | missed"),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("caller_enc", sa.Text(), nullable=True),
        sa.Column("caller_hash", sa.String(length=64), nullable=True),
        sa.Column("caller_masked", sa.String(length=32), nullable=True),
        sa.Column("called", sa.String(length=32), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=100), nullable=True),
        sa.Column("ivr_path", sa.String(length=300), nullable=True),
        sa.Column("recording_ref", sa.String(length=500), nullable=True),
        sa.Column("cause", sa.String(length=64), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("call_id"),
        schema=schema,
    )
    op.create_table(
        "notes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_index(op.f("ix_intake_notes_case_id"), "notes", ["case_id"], unique=False, schema=schema)
    op.add_column("cases", sa.Column("policy_nos", sa.JSON(), server_default="[]", nullable=False), schema=schema)
    op.add_column(
        "cases",
        sa.Column("category_suggested", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema=schema,
    )
    op.add_column(
        "cases",
        sa.Column(
            "received_by",
            sa.String(length=64),
            nullable=True,
            comment="staff who received the request (first responder candidate)",
        ),
        schema=schema,
    )
    op.add_column("cases", sa.Column("identity_verified_at", UTCDateTime(), nullable=True), schema=schema)
    op.add_column("cases", sa.Column("identity_verified_by", sa.String(length=64), nullable=True), schema=schema)
    op.add_column("cases", sa.Column("identity_document_type", sa.String(length=32), nullable=True), schema=schema)
    op.add_column(
        "cases",
        sa.Column("repeat_of", sa.Uuid(), nullable=True, comment="the earlier complaint this one repeats"),
        schema=schema,
    )
    op.add_column(
        "cases",
        sa.Column(
            "agent_finding",
            sa.String(length=32),
            nullable=True,
            comment="misconduct_found | no_misconduct, on closing an agent complaint",
        ),
        schema=schema,
    )
    op.add_column("cases", sa.Column("resolution", sa.String(length=32), nullable=True), schema=schema)
    op.add_column("cases", sa.Column("closed_at", UTCDateTime(), nullable=True), schema=schema)
    op.add_column("cases", sa.Column("reopen_count", sa.Integer(), server_default="0", nullable=False), schema=schema)
    op.add_column("cases", sa.Column("satisfaction_score", sa.Integer(), nullable=True), schema=schema)
    op.add_column("cases", sa.Column("satisfaction_result", sa.String(length=200), nullable=True), schema=schema)
    op.add_column(
        "cases",
        sa.Column("version", sa.Integer(), server_default="1", nullable=False, comment="bumped by every action"),
        schema=schema,
    )
    op.create_index("ix_cases_agent_code", "cases", ["agent_code"], unique=False, schema=schema)
    op.create_index("ix_cases_id_number_hash", "cases", ["id_number_hash"], unique=False, schema=schema)
    op.create_index(
        "ix_cases_status_received",
        "cases",
        ["status", sa.literal_column("received_at DESC")],
        unique=False,
        schema=schema,
    )


def downgrade() -> None:
    schema = schema_of(SCHEMA)
    op.drop_index("ix_cases_status_received", table_name="cases", schema=schema)
    op.drop_index("ix_cases_id_number_hash", table_name="cases", schema=schema)
    op.drop_index("ix_cases_agent_code", table_name="cases", schema=schema)
    op.drop_column("cases", "version", schema=schema)
    op.drop_column("cases", "satisfaction_result", schema=schema)
    op.drop_column("cases", "satisfaction_score", schema=schema)
    op.drop_column("cases", "reopen_count", schema=schema)
    op.drop_column("cases", "closed_at", schema=schema)
    op.drop_column("cases", "resolution", schema=schema)
    op.drop_column("cases", "agent_finding", schema=schema)
    op.drop_column("cases", "repeat_of", schema=schema)
    op.drop_column("cases", "identity_document_type", schema=schema)
    op.drop_column("cases", "identity_verified_by", schema=schema)
    op.drop_column("cases", "identity_verified_at", schema=schema)
    op.drop_column("cases", "received_by", schema=schema)
    op.drop_column("cases", "category_suggested", schema=schema)
    op.drop_column("cases", "policy_nos", schema=schema)
    op.drop_index(op.f("ix_intake_notes_case_id"), table_name="notes", schema=schema)
    op.drop_table("notes", schema=schema)
    op.drop_table("cti_calls", schema=schema)
    op.drop_index("ix_case_actions_case", table_name="case_actions", schema=schema)
    op.drop_table("case_actions", schema=schema)
    op.drop_index(op.f("ix_intake_attachments_case_id"), table_name="attachments", schema=schema)
    op.drop_table("attachments", schema=schema)
    op.drop_index(op.f("ix_intake_approvals_case_id"), table_name="approvals", schema=schema)
    op.drop_table("approvals", schema=schema)
