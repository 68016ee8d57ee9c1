"""Tables every service has in its own schema: the outbox and the inbox, the API
keys of its machine clients and its append-only audit log, and the bookkeeping
that makes a lost event impossible to miss (``services.streams``): which broker
cluster the outbox last published to, each topic's publish sequence, and, on the
consuming side, how far each producer's sequence has arrived.

``runtime_tables(metadata, producer)`` adds them to a service's ``MetaData`` so that they
live in that service's schema and its Alembic migrations create them.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.dialects import sqlite

from services.database import UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")


@dataclass(frozen=True)
class RuntimeTables:
    #: The service these tables belong to: the ``producer`` of the events it publishes.
    producer: str
    outbox: Table
    inbox: Table
    api_keys: Table
    audit_log: Table
    broker_clusters: Table
    outbox_sequences: Table
    stream_watermarks: Table
    reference_versions: Table


def runtime_tables(metadata: MetaData, producer: str) -> RuntimeTables:
    """The runtime tables in ``metadata``'s schema. Long on purpose: it is eight table
    declarations one after the other, which read best together and in one place."""
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
        Column("seq", BigInteger, comment="the topic's publish sequence, given when first published"),
        Column("traceparent", String(55), comment="W3C trace context, when traced (services.tracing)"),
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
        Column("producer", String(64), comment="the producing service, from the message header"),
        Column("seq", BigInteger, comment="the producer's sequence of this event on its topic"),
    )
    Index("ix_inbox_stream", inbox.c.producer, inbox.c.topic, inbox.c.seq)
    api_keys = Table(
        "api_keys",
        metadata,
        Column("id", String(32), primary_key=True, comment="public part of the key"),
        Column("secret_hash", String(64), nullable=False, comment="HMAC-SHA256 of the secret part; never the key"),
        Column("client", String(64), nullable=False),
        Column("roles", sa.JSON, nullable=False),
        Column("channels", sa.JSON, nullable=False),
        Column("branches", sa.JSON, nullable=False),
        Column("rate_per_minute", Integer, nullable=False),
        Column("note", String(200)),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("revoked_at", UTCDateTime()),
        Column("last_used_at", UTCDateTime()),
    )
    audit_log = Table(
        "audit_log",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("at", UTCDateTime(), nullable=False),
        Column("actor", String(100), nullable=False),
        Column("actor_kind", String(16), nullable=False, comment="staff | client | anonymous"),
        Column("roles", sa.JSON, nullable=False),
        Column("action", String(200), nullable=False, comment="e.g. POST /v1/cases/{case_id}/actions/close"),
        Column("target", String(100), comment="the case or resource acted on"),
        Column("status", Integer, nullable=False),
        Column("source_ip", String(64)),
        Column("correlation_id", String(100)),
        Column("details", sa.JSON, nullable=False),
    )
    for column in ("at", "actor", "target"):
        Index(f"ix_audit_log_{column}", audit_log.c[column])
    broker_clusters = Table(
        "broker_clusters",
        metadata,
        Column("cluster_id", String(200), primary_key=True, comment="the broker cluster's id (Kafka metadata)"),
        Column("first_seen_at", UTCDateTime(), nullable=False),
        Column("replayed", Integer, nullable=False, comment="retained outbox rows published again to this cluster"),
    )
    outbox_sequences = Table(
        "outbox_sequences",
        metadata,
        Column("topic", String(100), primary_key=True),
        Column("last_seq", BigInteger, nullable=False, comment="the last sequence number given on this topic"),
    )
    stream_watermarks = Table(
        "stream_watermarks",
        metadata,
        Column("producer", String(64), primary_key=True),
        Column("topic", String(100), primary_key=True),
        Column("through", BigInteger, nullable=False, comment="every sequence up to this one has arrived"),
        Column("announced", BigInteger, nullable=False, comment="the last sequence the producer says it published"),
        Column("announced_at", UTCDateTime()),
        Column("advanced_at", UTCDateTime(), nullable=False, comment="when `through` last moved"),
    )
    reference_versions = Table(
        "reference_versions",
        metadata,
        Column("name", String(64), primary_key=True, comment="which reference data (services.reference)"),
        Column("version", BigInteger, nullable=False, comment="moved on by every change"),
        Column("changed_at", UTCDateTime(), nullable=False),
    )
    return RuntimeTables(
        producer=producer,
        outbox=outbox,
        inbox=inbox,
        api_keys=api_keys,
        audit_log=audit_log,
        broker_clusters=broker_clusters,
        outbox_sequences=outbox_sequences,
        stream_watermarks=stream_watermarks,
        reference_versions=reference_versions,
    )
