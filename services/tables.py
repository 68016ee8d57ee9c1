"""Tables every service has in its own schema: the outbox and the inbox.

``runtime_tables(metadata)`` adds them to a service's ``MetaData`` so that they
live in that service's schema and its Alembic migrations create them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.dialects import sqlite

from services.database import UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")


@dataclass(frozen=True)
class RuntimeTables:
    outbox: Table
    inbox: Table


def runtime_tables(metadata: MetaData) -> RuntimeTables:
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True, comment="publish order"),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("topic", String(100), nullable=False),
        Column("key", String(100), nullable=False),
        Column("value", Text, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("published_at", UTCDateTime()),
        Column("attempts", Integer, nullable=False, server_default="0"),
    )
    Index(
        "ix_outbox_unpublished",
        outbox.c.id,
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", String(36), primary_key=True, comment="an event applied once"),
        Column("topic", String(100), nullable=False),
        Column("processed_at", UTCDateTime(), nullable=False),
    )
    return RuntimeTables(outbox=outbox, inbox=inbox)


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
