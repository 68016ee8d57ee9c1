"""What the console says, in zh-CN (the default) and en, and the wording of time limits.

One dictionary per language, keyed by the same names in every template (``t("board")``);
a name missing from a language falls back to zh-CN, then to the name itself, so a
page never breaks for a missing phrase. What is left of a limit is said in the limit's
own unit, as staff say it: "还剩 1.5 个工作日", "已超时 2 个工作日".
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LOCALES = ("zh-CN", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "app": "咨询投诉工作台",
        "board": "超时看板",
        "search": "查询",
        "sign_in": "登录",
        "sign_out": "退出",
        "sign_in_as": "选择示例用户登录（开发环境）",
        "signed_in_as": "当前用户",
        "overdue": "已超时",
        "due_soon": "即将到期（24 小时内）",
        "case": "案件",
        "clock": "时限",
        "due_at": "到期时间",
        "holder": "处理人",
        "owner": "首问责任人",
        "unit": "处理单位",
        "branch": "机构",
        "level": "级别",
        "state": "状态",
        "nothing": "暂无",
        "live": "实时更新中",
        "live_lost": "实时连接中断，正在重连",
        "case_file": "案件信息",
        "timeline": "处理经过",
        "clocks": "时限",
        "assignment": "分派",
        "notes": "备注",
        "attachments": "附件",
        "customer": "客户",
        "phone": "手机号",
        "id_number": "证件号",
        "policy_no": "保单号",
        "customer_name": "客户姓名",
        "case_no": "案件编号",
        "status": "状态",
        "kind": "类型",
        "category": "类别",
        "channel": "渠道",
        "received_at": "受理时间",
        "received_from": "受理起",
        "received_to": "受理止",
        "agent_code": "代理人工号",
        "subject": "主题",
        "description": "内容",
        "tier": "等级",
        "used": "已用",
        "left": "剩余",
        "explanation": "说明",
        "pauses": "暂停",
        "extensions": "延期",
        "search_button": "查询",
        "next_page": "下一页",
        "results": "查询结果",
        "no_results": "没有符合条件的案件",
        "any": "不限",
        "not_for_your_roles": "您的角色无权查看此内容",
        "forbidden": "无权访问",
        "not_found": "未找到",
        "not_found_text": "没有这个案件，或它不在您的范围内。",
        "forbidden_text": "您的角色不允许这样做。",
        "unavailable": "服务暂不可用",
        "unavailable_text": "有一项服务没有应答，请稍后再试。",
        "back_to_board": "返回看板",
        "language": "English",
        "masked": "已脱敏",
        "first_responder": "首问责任人",
        "assignee": "当前处理人",
        "queued": "排队中",
        "source": "来源",
        "actor": "操作人",
        "what": "事项",
        "when": "时间",
        "deliveries": "通知",
        "major": "重大",
        "repeat_of": "重复投诉，原案件",
        "skip": "跳到正文",
        "operations": "办理",
        "allowed_now": "当前可办理",
        "new_case": "新建案件",
        "suggested": "按内容建议",
        "complainant_count": "投诉人数",
        "identity_check": "身份核验",
        "document_type": "证件类型",
        "identity_verified": "已核验客户身份证件",
        "policy_after_identity": "核验身份后方可录入保单信息",
        "create": "受理",
        "hints": "提示",
        "major_warning": "可能是重大投诉",
        "suggested_category": "建议类别",
        "duplicates_warning": "该客户有未结案件",
        "line_of_business": "业务线",
        "my_work": "我的工作",
        "reveal": "显示完整手机号和证件号",
        "reveal_audited": "查看将记入审计日志",
        "held_by_me": "我在处理的案件",
        "owned_by_me": "我首问负责的案件",
        "approvals_waiting": "待我审批",
        "team_queue": "团队队列",
        "queued_since": "排队起",
        "on_duty": "在岗",
        "open_cases": "未结案件",
        "load": "工作量",
    },
    "en": {
        "app": "Inquiries and complaints",
        "board": "Overdue board",
        "search": "Search",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "sign_in_as": "Sign in as a sample user (development)",
        "signed_in_as": "Signed in as",
        "overdue": "Overdue",
        "due_soon": "Due within 24 hours",
        "case": "Case",
        "clock": "Clock",
        "due_at": "Due",
        "holder": "Holder",
        "owner": "First responder",
        "unit": "Unit",
        "branch": "Branch",
        "level": "Level",
        "state": "State",
        "nothing": "None",
        "live": "Live",
        "live_lost": "Live connection lost; reconnecting",
        "case_file": "Case file",
        "timeline": "Timeline",
        "clocks": "Clocks",
        "assignment": "Assignment",
        "notes": "Notes",
        "attachments": "Attachments",
        "customer": "Customer",
        "phone": "Phone",
        "id_number": "ID number",
        "policy_no": "Policy number",
        "customer_name": "Customer name",
        "case_no": "Case number",
        "status": "Status",
        "kind": "Kind",
        "category": "Category",
        "channel": "Channel",
        "received_at": "Received",
        "received_from": "Received from",
        "received_to": "Received until",
        "agent_code": "Agent code",
        "subject": "Subject",
        "description": "Description",
        "tier": "Tier",
        "used": "Used",
        "left": "Left",
        "explanation": "Explanation",
        "pauses": "Pauses",
        "extensions": "Extensions",
        "search_button": "Search",
        "next_page": "Next page",
        "results": "Results",
        "no_results": "No case matches",
        "any": "Any",
        "not_for_your_roles": "Your roles may not see this",
        "forbidden": "Not allowed",
        "not_found": "Not found",
        "not_found_text": "There is no such case, or it is outside your scope.",
        "forbidden_text": "Your roles do not allow this.",
        "unavailable": "Service unavailable",
        "unavailable_text": "A service did not answer. Try again shortly.",
        "back_to_board": "Back to the board",
        "language": "中文",
        "masked": "masked",
        "first_responder": "First responder",
        "assignee": "Assignee",
        "queued": "queued",
        "source": "Source",
        "actor": "By",
        "what": "What",
        "when": "When",
        "deliveries": "Notifications",
        "major": "major",
        "repeat_of": "Repeats case",
        "skip": "Skip to content",
        "operations": "Actions",
        "allowed_now": "Allowed now",
        "new_case": "New case",
        "suggested": "Suggested from the text",
        "complainant_count": "Complainants",
        "identity_check": "Identity check",
        "document_type": "Document",
        "identity_verified": "I checked the customer's identity document",
        "policy_after_identity": "Policy details only after the identity check",
        "create": "Accept",
        "hints": "Hints",
        "major_warning": "This may be a major complaint",
        "suggested_category": "Suggested category",
        "duplicates_warning": "Open cases of this customer",
        "line_of_business": "Line of business",
        "my_work": "My work",
        "reveal": "Show phone and ID number in full",
        "reveal_audited": "the reveal is recorded in the audit log",
        "held_by_me": "Cases I hold",
        "owned_by_me": "Cases I am first responder for",
        "approvals_waiting": "Waiting for my approval",
        "team_queue": "Team queue",
        "queued_since": "Queued since",
        "on_duty": "On duty",
        "open_cases": "Open cases",
        "load": "Load",
    },
}

UNIT_WORDS = {
    "zh-CN": {"working_days": "个工作日", "working_hours": "个工作小时", "hours": "小时", "calendar_days": "天"},
    "en": {"working_days": "working days", "working_hours": "working hours", "hours": "hours", "calendar_days": "days"},
}


def locale_of(value: str | None, default: str = "zh-CN") -> str:
    return value if value in LOCALES else default


def translate(locale: str, name: str) -> str:
    return MESSAGES.get(locale, {}).get(name) or MESSAGES["zh-CN"].get(name) or name


def _amount(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def left_words(locale: str, unit: str, left: float, state: str) -> str:
    """What is left of a limit, in its unit: "还剩 1.5 个工作日", "已超时 2 个工作日"
    ("1.5 working days left", "2 working days late"); for a stopped clock, its state."""
    words = UNIT_WORDS.get(locale, UNIT_WORDS["zh-CN"]).get(unit, unit)
    if state not in ("running", "breached", "paused"):
        return ""
    if left < 0:
        return f"已超时 {_amount(-left)} {words}" if locale == "zh-CN" else f"{_amount(-left)} {words} late"
    return f"还剩 {_amount(left)} {words}" if locale == "zh-CN" else f"{_amount(left)} {words} left"


def local_time(value: str | datetime | None, zone: str) -> str:
    """A moment as the branch reads it: ``2026-03-16 17:30`` in the calendar's zone."""
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
