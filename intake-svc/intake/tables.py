"""intake-svc's tables, all in schema ``intake``.

Phone and ID numbers are stored encrypted (``*_enc``), with a keyed hash to find
them (``*_hash``) and the masked form shown to staff (``*_masked``); the clear
value is never stored.
"""

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint, Uuid

from services.database import UTCDateTime
from services.tables import runtime_tables

SCHEMA = "intake"
metadata = MetaData(schema=SCHEMA)
runtime = runtime_tables(metadata)

cases = Table(
    "cases",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("case_no", String(64), nullable=False, unique=True),
    Column("status", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("tier", String(32)),
    Column("category", String(32)),
    Column("channel", String(32), nullable=False),
    Column("branch_code", String(32), nullable=False),
    Column("line_of_business", String(32), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("customer_name", String(200), nullable=False),
    Column("phone_enc", Text, nullable=False),
    Column("phone_hash", String(64), nullable=False),
    Column("phone_masked", String(32), nullable=False),
    Column("id_number_enc", Text),
    Column("id_number_hash", String(64)),
    Column("id_number_masked", String(32)),
    Column("policy_no", String(100)),
    Column("complainant_count", Integer, nullable=False),
    Column("agent_code", String(100)),
    Column("source_ref", String(100)),
    Column("major_reasons", JSON, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("channel", "source_ref", name="uq_cases_channel_source_ref"),
)
Index("ix_cases_received", cases.c.received_at.desc(), cases.c.id.desc())
Index("ix_cases_branch_received", cases.c.branch_code, cases.c.received_at.desc())
Index("ix_cases_phone_hash", cases.c.phone_hash)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("case_id", Uuid, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

case_counters = Table(
    "case_counters",
    metadata,
    Column("branch_code", String(32), primary_key=True),
    Column("day", String(8), primary_key=True),
    Column("last", Integer, nullable=False),
)
