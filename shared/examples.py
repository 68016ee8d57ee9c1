"""One worked example for every request body of the four APIs, as an integrator reads
them in ``/docs`` (``services.openapi`` puts each on the operations that take it).

The examples are the domain's: a Shenzhen hotline complaint about a claim, the
people and units of ``routing/data/sample_org.yaml``, a clock of ``sla/data/policies.yaml``.
``tests/test_openapi.py`` validates each against its model and fails on a body
without one, so an example can neither go stale nor be forgotten.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared import actions as a
from shared.auth import ApiKeyCreate
from shared.cti import CallEvent
from shared.intake import AttachmentIn, CaseCreate, CaseSearch, ClassifyIn, NoteIn
from shared.notify import OptOutIn, PreviewIn, SubscriptionCreate, SubscriptionPatch, TemplateIn
from shared.routing import OrgDocument, RuleIn, StaffPatch, TransferCreate
from shared.sla import CalendarIn, ExtendIn, PauseIn, PolicyIn, ResumeIn, YearSchedule

ACTOR = "u-sz-cs-1"
SUBJECT = "理赔款迟迟未到账 Claim payment not received"
ATTACHMENT = {
    "name": "claim-receipt.pdf",
    "content_type": "application/pdf",
    "size_bytes": 182044,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "storage_ref": "s3://case-files/2026/12/claim-receipt.pdf",
    "added_by": ACTOR,
}
RULE = {
    "priority": 50,
    "team": "claims",
    "description": "claims complaints go to the claims professional post",
    "kind": "complaint",
    "category": "claims",
    "case_priority": 3,
}
TARGET_DAYS = {"unit": "working_days", "amount": 5}

EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    CaseCreate: {
        "kind": "complaint",
        "channel": "hotline",
        "branch_code": "GD-SZ",
        "line_of_business": "individual_life",
        "subject": SUBJECT,
        "description": "客户称两周前提交的住院理赔材料至今未获赔付，要求说明原因。",
        "customer": {"name": "张三", "phone": "+86 138 0013 8000", "policy_no": "P440300123456"},
        "category": "claims",
        "source_ref": "call-20261203-0001",
        "received_by": ACTOR,
    },
    CaseSearch: {"phone": "+86 138 0013 8000", "open": True, "limit": 50},
    ClassifyIn: {"channel": "hotline", "subject": SUBJECT, "description": "客户要求投诉理赔时效"},
    NoteIn: {"author": ACTOR, "text": "已致电客户，约定明日上午回电。"},
    AttachmentIn: ATTACHMENT,
    a.Register: {"actor": ACTOR, "note": "registered after the first call"},
    a.AnswerOnTheSpot: {"actor": ACTOR, "note": "explained the waiting period; the customer is satisfied"},
    a.EscalateToComplaint: {"actor": ACTOR, "reason": "the customer insists on a formal complaint"},
    a.Reclassify: {"actor": ACTOR, "category": "claims", "reason": "about the claim, not the policy service"},
    a.VerifyIdentity: {"actor": ACTOR, "document_type": "resident_id"},
    a.RecordContact: {"actor": ACTOR, "outcome": "reached", "note": "confirmed the claim number"},
    a.StartAppraisal: {
        "actor": ACTOR,
        "reason": "hospital records sent for medical review",
        "complainant_informed": True,
    },
    a.EndAppraisal: {"actor": ACTOR, "note": "the medical review came back"},
    a.RecordOpinion: {"actor": ACTOR, "department": "GD-SZ.claims", "note": "payable; the delay was ours"},
    a.RequestApproval: {
        "actor": ACTOR,
        "type": "payment",
        "reason": "goodwill interest on the late claim",
        "amount": 200,
    },
    a.Decide: {"actor": "u-sz-cs-lead", "decision_note": "approved"},
    a.Reject: {"actor": "u-sz-cs-lead", "decision_note": "the amount is not justified"},
    a.Reply: {"actor": ACTOR, "written": False, "note": "told the customer the decision by phone"},
    a.Close: {"actor": ACTOR, "customer_accepted": True},
    a.Reopen: {"actor": ACTOR, "reason": "the payment did not arrive as promised"},
    a.RecordSatisfaction: {"actor": ACTOR, "score": 4, "result": "satisfied"},
    CallEvent: {
        "event": "new_call",
        "call_id": "1733212800.42",
        "direction": "in",
        "caller": "+86 138 0013 8000",
        "called": "95519",
        "queue": "complaints",
        "ivr_path": ["1", "3"],
    },
    ApiKeyCreate: {"client": "counter-app-gd", "roles": ["counter_clerk"], "channels": ["counter"], "branches": ["GD"]},
    TransferCreate: {"to_unit": "GD-SZ.claims", "reason": "a claims question", "kind": "transfer"},
    OrgDocument: {
        "branches": [{"code": "HO", "name": "总公司 Head office", "kind": "head_office"}],
        "units": [{"branch_code": "HO", "team": "cs", "name": "总公司客户服务部 customer service"}],
        "staff": [{"id": "u-ho-cs-1", "name": "王五", "unit_code": "HO.cs"}],
        "rules": [{**RULE, "id": "default", "priority": 1000, "team": "cs", "description": "everything else"}],
    },
    StaffPatch: {"on_duty": False},
    RuleIn: RULE,
    PauseIn: {"by": ACTOR, "reason": "waiting for the hospital's records", "complainant_informed": True},
    ResumeIn: {"by": ACTOR},
    ExtendIn: {"approved_by": "u-sz-cs-lead", "reason": "a complex case", "complainant_informed": True},
    CalendarIn: {
        "timezone": "Asia/Shanghai",
        "business_hours": [["08:30", "12:00"], ["13:30", "17:30"]],
        "branch_prefixes": ["GD"],
        "description": "Guangdong branches' working hours",
    },
    YearSchedule: {
        "off": {"2027-01-01": "元旦", "2027-02-05": "春节", "2027-02-11": "春节 (调休)"},
        "work": {"2027-02-20": "春节 补班"},
        "source": "国务院办公厅关于2027年部分节假日安排的通知",
    },
    PolicyIn: {
        "priority": 60,
        "description": "a general inquiry: an answer within 5 working days",
        "match": {"kind": "inquiry", "tier": "general"},
        "clocks": [
            {
                "name": "answer",
                "start": ["created"],
                "stop": ["updated:reply", "updated:close"],
                "target": TARGET_DAYS,
                "warnings": [{"percent": 75}],
                "escalations": [{"after": {"unit": "working_days", "amount": 1}}],
                "basis": "company practice",
                "source": "the company's service standard",
            }
        ],
    },
    SubscriptionCreate: {
        "name": "Guangdong breaches to the ops webhook",
        "channel": "webhook",
        "target": "https://ops.example.com/hooks/case-alerts",
        "events": ["sla.breach", "sla.escalation"],
        "filters": {"branch_code": "GD"},
    },
    SubscriptionPatch: {"active": False},
    TemplateIn: {
        "subject": "案件 {{ case_no }} 已超时",
        "body": "{{ case_no }}: {{ clock }} is overdue since {{ due_at }}.",
    },
    PreviewIn: {"event": "sla.breach", "channel": "email", "locale": "en"},
    OptOutIn: {"phone": "+86 138 0013 8000"},
}


def by_schema_name() -> dict[str, dict[str, Any]]:
    """The examples under their models' names, as the OpenAPI document's components are."""
    return {model.__name__: example for model, example in EXAMPLES.items()}
