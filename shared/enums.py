"""The domain's closed vocabularies (DOMAIN.md sections 1-4).

Values are the wire names used in the API and in events; the Chinese term is
kept beside each so that code, data and UI use the words the users use.
"""

from enum import StrEnum


class CaseKind(StrEnum):
    inquiry = "inquiry"  # 咨询
    grievance = "grievance"  # 抱怨
    complaint = "complaint"  # 投诉


class CaseTier(StrEnum):
    general = "general"  # 一般咨询 / 一般投诉
    specialist = "specialist"  # 专业疑难 (inquiries only)
    major = "major"  # 重大投诉 (complaints only)


#: Which tiers a kind may take; a grievance has none.
TIERS_BY_KIND: dict[CaseKind, tuple[CaseTier, ...]] = {
    CaseKind.inquiry: (CaseTier.general, CaseTier.specialist),
    CaseKind.grievance: (),
    CaseKind.complaint: (CaseTier.general, CaseTier.major),
}


class Channel(StrEnum):
    hotline = "hotline"  # 电话座席 / IVR
    counter = "counter"  # 柜面
    branch_phone = "branch_phone"
    fax = "fax"
    email = "email"
    letter = "letter"  # 信函
    online = "online"
    visit = "visit"  # 来访
    regulator = "regulator"  # 监管转办
    media = "media"
    consumer_association = "consumer_association"  # 消协


#: Channels whose mere use makes a complaint major (DOMAIN.md section 2).
MAJOR_CHANNELS = frozenset({Channel.regulator, Channel.media, Channel.consumer_association})


class Category(StrEnum):
    claims = "claims"  # 理赔
    underwriting = "underwriting"  # 核保
    renewal = "renewal"  # 续收
    policy_service = "policy_service"  # 保全/批改
    sales_agent_conduct = "sales_agent_conduct"  # 销售/代理人
    product = "product"
    service_attitude = "service_attitude"
    internal_staff = "internal_staff"
    other = "other"


class LineOfBusiness(StrEnum):
    individual_life = "individual_life"  # 个险
    bancassurance = "bancassurance"  # 银保
    group = "group"  # 团险
    property_casualty = "property_casualty"  # 财产险


class CaseStatus(StrEnum):
    accepted = "accepted"  # 受理: received, not yet registered
    registered = "registered"  # 立案
    in_progress = "in_progress"
    pending_approval = "pending_approval"  # 签报 / written-reply review
    replied = "replied"
    closed = "closed"


class TransferKind(StrEnum):
    assign = "assign"  # first assignment
    transfer = "transfer"
    work_order = "work_order"  # 工单 to a branch
    escalate = "escalate"
    return_ = "return"


class OverdueLevel(StrEnum):
    warning = "warning"
    breach = "breach"
    escalation_1 = "escalation-1"
    escalation_2 = "escalation-2"
    escalation_3 = "escalation-3"
    #: An earlier alert of the clock is no longer true (a calendar correction moved its due time).
    withdrawn = "withdrawn"


class ClockState(StrEnum):
    running = "running"
    paused = "paused"
    met = "met"
    breached = "breached"
    cancelled = "cancelled"  # a reclassified case's new policy has no such clock


class AgentFinding(StrEnum):
    """The finding every agent complaint is closed with (DOMAIN.md section 2)."""

    misconduct_found = "misconduct_found"
    no_misconduct = "no_misconduct"


class ApprovalType(StrEnum):
    payment = "payment"  # 签报, e.g. negotiated surrender 协议退保
    written_reply = "written_reply"  # department head's review of a written reply


class DocumentType(StrEnum):
    resident_id = "resident_id"  # 居民身份证
    passport = "passport"
    hk_macao_permit = "hk_macao_permit"
    taiwan_permit = "taiwan_permit"
    foreign_residence = "foreign_residence"
    other = "other"
