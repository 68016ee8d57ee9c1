"""intake-svc's tables, all in schema ``intake``.

Phone and ID numbers are stored encrypted (``*_enc``), with a keyed hash to find
them (``*_hash``) and the masked form shown to staff (``*_masked``); the clear
value is never stored.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    false,
)

from services.database import UTCDateTime
from services.tables import BigId, runtime_tables

SCHEMA = "intake"
metadata = MetaData(schema=SCHEMA)
runtime = runtime_tables(metadata, "intake-svc")

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
    Column("assignee", String(64), comment="who holds the case now (from case.transferred)"),
    Column("owner", String(64), comment="first responder (from case.transferred)"),
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
    # The case file (intake issue): who received it, identity, repeat link, outcome.
    Column("policy_nos", JSON, nullable=False, server_default="[]"),
    Column("category_suggested", Boolean, nullable=False, server_default=false()),
    Column("received_by", String(64), comment="staff who received the request (first responder candidate)"),
    Column("identity_verified_at", UTCDateTime()),
    Column("identity_verified_by", String(64)),
    Column("identity_document_type", String(32)),
    Column("repeat_of", Uuid, comment="the earlier complaint this one repeats"),
    Column("agent_finding", String(32), comment="misconduct_found | no_misconduct, on closing an agent complaint"),
    Column("resolution", String(32)),
    Column("closed_at", UTCDateTime()),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    Column("satisfaction_score", Integer),
    Column("satisfaction_result", String(200)),
    Column("version", Integer, nullable=False, server_default="1", comment="bumped by every action"),
    UniqueConstraint("channel", "source_ref", name="uq_cases_channel_source_ref"),
)
Index("ix_cases_received", cases.c.received_at.desc(), cases.c.id.desc())
Index("ix_cases_branch_received", cases.c.branch_code, cases.c.received_at.desc())
# The repeat-complaint lookup walks these newest first (intake/cases.py:find_repeat_of).
Index("ix_cases_phone_received", cases.c.phone_hash, cases.c.received_at)
Index("ix_cases_id_number_received", cases.c.id_number_hash, cases.c.received_at)
Index("ix_cases_status_received", cases.c.status, cases.c.received_at.desc())
Index("ix_cases_agent_code", cases.c.agent_code)

#: Every action and every event of a case, in order: the case's history.
case_actions = Table(
    "case_actions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", Uuid, nullable=False),
    Column("action", String(64), nullable=False),
    Column("actor", String(64)),
    Column("source", String(32), nullable=False, comment="intake-svc, or the service whose event this is"),
    Column("from_status", String(32)),
    Column("to_status", String(32)),
    Column("details", JSON, nullable=False),
    Column("event_id", String(36)),
    Column("at", UTCDateTime(), nullable=False),
)
Index("ix_case_actions_case", case_actions.c.case_id, case_actions.c.id)

notes = Table(
    "notes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", Uuid, nullable=False, index=True),
    Column("author", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("case_id", Uuid, nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_ref", String(500), nullable=False, comment="where the file lives (object store key); not the file"),
    Column("added_by", String(64), nullable=False),
    Column("added_at", UTCDateTime(), nullable=False),
)

#: Signed approvals (签报) for payments, and department-head review of written replies.
approvals = Table(
    "approvals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("case_id", Uuid, nullable=False, index=True),
    Column("type", String(32), nullable=False, comment="payment | written_reply"),
    Column("status", String(16), nullable=False, comment="pending | approved | rejected | used"),
    Column("reason", String(500), nullable=False),
    Column("amount", String(32)),
    Column("resume_status", String(32), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", UTCDateTime()),
    Column("decision_note", String(500)),
)

#: Calls as the phone system reports them; a call becomes a case when it is logged.
cti_calls = Table(
    "cti_calls",
    metadata,
    Column("call_id", String(100), primary_key=True),
    Column("state", String(16), nullable=False, comment="ringing | answered | ended | missed"),
    Column("direction", String(8), nullable=False),
    Column("caller_enc", Text),
    Column("caller_hash", String(64)),
    Column("caller_masked", String(32)),
    Column("called", String(32)),
    Column("agent_id", String(64)),
    Column("queue", String(100)),
    Column("ivr_path", String(300)),
    Column("recording_ref", String(500)),
    Column("cause", String(64)),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("answered_at", UTCDateTime()),
    Column("ended_at", UTCDateTime()),
    Column("case_id", Uuid),
    Column("updated_at", UTCDateTime(), nullable=False),
)

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
