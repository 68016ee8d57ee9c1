"""Case bodies as the channels would send them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any


def complaint(days_ago: float = 0, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "complaint",
        "channel": "letter",
        "branch_code": "GD-SZ",
        "line_of_business": "individual_life",
        "category": "claims",
        "subject": "理赔款迟迟未到账",
        "description": "客户来信称理赔申请提交一个月仍未赔付，要求尽快处理。",
        "customer": {
            "name": "张三",
            "phone": "13812345678",
            "id_number": "110101199003071234",
            "policy_no": "P2024000123",
        },
        "source_ref": f"LTR-{uuid.uuid4().hex[:10]}",
    }
    if days_ago:
        body["received_at"] = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    body.update(overrides)
    return body


def inquiry(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "inquiry",
        "channel": "hotline",
        "branch_code": "GD-SZ",
        "line_of_business": "individual_life",
        "subject": "保单贷款咨询",
        "description": "客户来电询问保单贷款的利率和办理方式。",
        "customer": {"name": "李四", "phone": "13900001111"},
    }
    body.update(overrides)
    return body
