"""The migration steps that create the runtime tables (``services.tables``) in each
service's schema, in the order they were introduced. Each step is frozen like any
migration: a later change is a new step, never an edit, since every service's
Alembic history calls these by name.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from services.database import UTCDateTime
from services.tables import BigId


def create_runtime_tables_v1(op: Any, schema: str) -> None:
    """Migration step creating the outbox and inbox as first defined; frozen, like any migration."""
    op.create_table(
        "outbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False, comment="publish order"),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
        schema=schema,
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.String(length=36), nullable=False, comment="an event applied once"),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema=schema,
    )


def drop_runtime_tables_v1(op: Any, schema: str) -> None:
    op.drop_index("ix_outbox_unpublished", table_name="outbox", schema=schema)
    op.drop_table("outbox", schema=schema)
    op.drop_table("inbox", schema=schema)


APPEND_ONLY_TRIGGER = (
    "CREATE OR REPLACE FUNCTION {schema}.audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON {schema}.audit_log "
    "FOR EACH ROW EXECUTE FUNCTION {schema}.audit_log_append_only()",
)


def create_runtime_tables_v2(op: Any, schema: str | None) -> None:
    """Migration step adding API keys and the audit log; frozen, like any migration.

    On Postgres a trigger refuses UPDATE and DELETE on the audit log, so not even a
    bug in the service can rewrite history (only a schema owner dropping the trigger).
    """
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False, comment="public part of the key"),
        sa.Column(
            "secret_hash", sa.String(length=64), nullable=False, comment="HMAC-SHA256 of the secret part; never the key"
        ),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("branches", sa.JSON(), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False, comment="staff | client | anonymous"),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column(
            "action", sa.String(length=200), nullable=False, comment="e.g. POST /v1/cases/{case_id}/actions/close"
        ),
        sa.Column("target", sa.String(length=100), nullable=True, comment="the case or resource acted on"),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("correlation_id", sa.String(length=100), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
    )
    for column in ("at", "actor", "target"):
        op.create_index(f"ix_audit_log_{column}", "audit_log", [column], unique=False, schema=schema)
    if schema and op.get_bind().dialect.name == "postgresql":
        for statement in APPEND_ONLY_TRIGGER:
            op.execute(statement.format(schema=schema))


def drop_runtime_tables_v2(op: Any, schema: str | None) -> None:
    if schema and op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS audit_log_append_only ON {schema}.audit_log")
        op.execute(f"DROP FUNCTION IF EXISTS {schema}.audit_log_append_only()")
    for column in ("at", "actor", "target"):
        op.drop_index(f"ix_audit_log_{column}", table_name="audit_log", schema=schema)
    op.drop_table("audit_log", schema=schema)
    op.drop_table("api_keys", schema=schema)


def create_runtime_tables_v3(op: Any, schema: str | None) -> None:
    """Migration step for stream bookkeeping (``services.streams``); frozen, like any migration."""
    op.add_column(
        "outbox",
        sa.Column(
            "seq", sa.BigInteger(), nullable=True, comment="the topic's publish sequence, given when first published"
        ),
        schema=schema,
    )
    op.add_column(
        "inbox",
        sa.Column(
            "producer", sa.String(length=64), nullable=True, comment="the producing service, from the message header"
        ),
        schema=schema,
    )
    op.add_column(
        "inbox",
        sa.Column("seq", sa.BigInteger(), nullable=True, comment="the producer's sequence of this event on its topic"),
        schema=schema,
    )
    op.create_index("ix_inbox_stream", "inbox", ["producer", "topic", "seq"], unique=False, schema=schema)
    op.create_table(
        "broker_clusters",
        sa.Column(
            "cluster_id", sa.String(length=200), nullable=False, comment="the broker cluster's id (Kafka metadata)"
        ),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column(
            "replayed", sa.Integer(), nullable=False, comment="retained outbox rows published again to this cluster"
        ),
        sa.PrimaryKeyConstraint("cluster_id"),
        schema=schema,
    )
    op.create_table(
        "outbox_sequences",
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False, comment="the last sequence number given on this topic"),
        sa.PrimaryKeyConstraint("topic"),
        schema=schema,
    )
    op.create_table(
        "stream_watermarks",
        sa.Column("producer", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("through", sa.BigInteger(), nullable=False, comment="every sequence up to this one has arrived"),
        sa.Column(
            "announced", sa.BigInteger(), nullable=False, comment="the last sequence the producer says it published"
        ),
        sa.Column("announced_at", UTCDateTime(), nullable=True),
        sa.Column("advanced_at", UTCDateTime(), nullable=False, comment="when `through` last moved"),
        sa.PrimaryKeyConstraint("producer", "topic"),
        schema=schema,
    )


def drop_runtime_tables_v3(op: Any, schema: str | None) -> None:
    op.drop_table("stream_watermarks", schema=schema)
    op.drop_table("outbox_sequences", schema=schema)
    op.drop_table("broker_clusters", schema=schema)
    op.drop_index("ix_inbox_stream", table_name="inbox", schema=schema)
    with op.batch_alter_table("inbox", schema=schema) as batch:
        batch.drop_column("seq")
        batch.drop_column("producer")
    with op.batch_alter_table("outbox", schema=schema) as batch:
        batch.drop_column("seq")


def create_runtime_tables_v4(op: Any, schema: str | None) -> None:
    """Migration step for reference-data stamps (``services.reference``); frozen, like any migration."""
    op.create_table(
        "reference_versions",
        sa.Column("name", sa.String(length=64), nullable=False, comment="which reference data (services.reference)"),
        sa.Column("version", sa.BigInteger(), nullable=False, comment="moved on by every change"),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        schema=schema,
    )


def drop_runtime_tables_v4(op: Any, schema: str | None) -> None:
    op.drop_table("reference_versions", schema=schema)


def create_runtime_tables_v5(op: Any, schema: str | None) -> None:
    """Migration step for traces (``services.tracing``): the outbox row keeps the
    ``traceparent`` of the work that staged it; frozen, like any migration."""
    with op.batch_alter_table("outbox", schema=schema) as batch:
        batch.add_column(
            sa.Column("traceparent", sa.String(length=55), nullable=True, comment="W3C trace context, when traced")
        )


def drop_runtime_tables_v5(op: Any, schema: str | None) -> None:
    with op.batch_alter_table("outbox", schema=schema) as batch:
        batch.drop_column("traceparent")


def set_fillfactor(op: Any, schema: str | None, table: str, percent: int | None) -> None:
    """Postgres fills a table's new pages to ``percent`` (``None``: back to the default),
    leaving room for updates to stay on their row's page (decision 0022). Nothing on
    SQLite (``schema`` None), which has no such setting."""
    if schema is None:
        return
    setting = "RESET (fillfactor)" if percent is None else f"SET (fillfactor = {int(percent)})"
    op.execute(f"ALTER TABLE {schema}.{table} {setting}")
