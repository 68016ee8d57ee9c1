"""Who may do what (DOMAIN.md section 6): roles, their permissions, and the API
bodies of API keys and the audit log.

Permissions are per action; a role is a set of them. Staff carry roles in their
token (the insurer's identity provider issues them); machine clients carry them on
their API key. Nobody gets personal data in clear without ``pii:read``, and even
then only by asking for it (``?reveal=pii``), which is audited.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from shared.enums import Channel
from shared.types import BranchCode, Strict, Text200


class Role(StrEnum):
    call_centre_agent = "call_centre_agent"
    counter_clerk = "counter_clerk"
    branch_specialist = "branch_specialist"
    liaison = "liaison"
    team_lead = "team_lead"
    branch_head = "branch_head"
    head_office_coordinator = "head_office_coordinator"
    auditor = "auditor"
    admin = "admin"
    #: machine clients: a CTI integration, a counter app, an e-mail gateway
    integration = "integration"
    #: another service of this system reading what it needs (notify-svc)
    service = "service"


CASE_READ = "case:read"
CASE_CREATE = "case:create"
CASE_ACT = "case:act"
CASE_TRANSFER = "case:transfer"
CASE_APPROVE = "case:approve"
PII_READ = "pii:read"
REPORTS_READ = "reports:read"
ORG_READ = "org:read"
ORG_MANAGE = "org:manage"
RULES_MANAGE = "rules:manage"
SLA_MANAGE = "sla:manage"
NOTIFY_MANAGE = "notify:manage"
DELIVERIES_READ = "deliveries:read"
AUDIT_READ = "audit:read"
KEYS_MANAGE = "keys:manage"
PUBLIC = "public"

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.call_centre_agent: frozenset({CASE_READ, CASE_CREATE, CASE_ACT, PII_READ}),
    Role.counter_clerk: frozenset({CASE_READ, CASE_CREATE, CASE_ACT, PII_READ}),
    Role.branch_specialist: frozenset({CASE_READ, CASE_ACT, CASE_TRANSFER, PII_READ}),
    Role.liaison: frozenset({CASE_READ, CASE_ACT, CASE_TRANSFER}),
    Role.team_lead: frozenset(
        {CASE_READ, CASE_ACT, CASE_TRANSFER, CASE_APPROVE, REPORTS_READ, ORG_READ, DELIVERIES_READ}
    ),
    Role.branch_head: frozenset({CASE_READ, CASE_TRANSFER, CASE_APPROVE, REPORTS_READ, ORG_READ}),
    Role.head_office_coordinator: frozenset(
        {CASE_READ, CASE_ACT, CASE_TRANSFER, CASE_APPROVE, REPORTS_READ, ORG_READ, NOTIFY_MANAGE, DELIVERIES_READ}
    ),
    Role.auditor: frozenset({CASE_READ, REPORTS_READ, ORG_READ, DELIVERIES_READ, AUDIT_READ}),
    Role.admin: frozenset(
        {ORG_READ, ORG_MANAGE, RULES_MANAGE, SLA_MANAGE, NOTIFY_MANAGE, DELIVERIES_READ, AUDIT_READ, KEYS_MANAGE}
    ),
    Role.integration: frozenset({CASE_CREATE, CASE_READ}),
    Role.service: frozenset({CASE_READ, PII_READ, ORG_READ, REPORTS_READ}),
}
ALL_PERMISSIONS = frozenset().union(*ROLE_PERMISSIONS.values())


def permissions_of(roles: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    known = {r.value: r for r in Role}
    return frozenset().union(*(ROLE_PERMISSIONS[known[r]] for r in roles if r in known))


KeyName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]


class ApiKeyCreate(Strict):
    client: KeyName = Field(description="the client's name, e.g. cti-genesys or counter-app-gd")
    roles: list[Role] = Field(default_factory=lambda: [Role.integration], min_length=1)
    channels: list[Channel] = Field(default_factory=list, description="channels it may create cases on; empty: any")
    branches: list[BranchCode] = Field(default_factory=list, description="branch subtrees it may act in; empty: all")
    rate_per_minute: int = Field(default=600, ge=1, le=100000)
    note: Text200 | None = None


class ApiKeyOut(BaseModel):
    id: str
    client: str
    roles: list[str]
    channels: list[str]
    branches: list[str]
    rate_per_minute: int
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    note: str | None
    key: str | None = Field(default=None, description="the secret key, shown once, when it is created")


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_kind: str
    roles: list[str]
    action: str
    target: str | None
    status: int
    source_ip: str | None
    correlation_id: str | None
    details: dict[str, Any]
