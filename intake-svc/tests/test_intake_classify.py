"""Major-complaint detection and category suggestion on a table of Chinese texts."""

from __future__ import annotations

import pytest

from intake.classify import major_reasons, suggest_category
from shared.enums import Category, Channel

MAJOR = [
    ("再不解决我就找记者曝光你们", Channel.hotline, 1, ["text mentions 记者 (media)", "text mentions 曝光 (media)"]),
    (
        "我已经向银保监会投诉了",
        Channel.counter,
        1,
        ["text mentions 银保监 (regulator)", "text mentions 保监 (regulator)"],
    ),
    ("我会打12378热线", Channel.hotline, 1, ["text mentions 12378 (regulator)"]),
    ("准备去消协反映", Channel.letter, 1, ["text mentions 消协 (consumer_association)"]),
    ("我们要去法院起诉", Channel.online, 1, ["text mentions 起诉 (lawsuit)", "text mentions 法院 (lawsuit)"]),
    ("客户集体要求退保", Channel.visit, 12, ["group complaint: 12 complainants", "text mentions 集体 (group)"]),
    ("理赔太慢", Channel.regulator, 1, ["channel: regulator"]),
    ("理赔太慢", Channel.media, 1, ["channel: media"]),
    ("九名客户一起来反映理赔慢", Channel.visit, 9, []),
    ("理赔款迟迟未到账，请尽快处理", Channel.hotline, 1, []),
]


@pytest.mark.parametrize(("text", "channel", "count", "reasons"), MAJOR, ids=[m[0] for m in MAJOR])
def test_major_detection(text: str, channel: Channel, count: int, reasons: list[str]) -> None:
    assert major_reasons(text, channel, count) == reasons


CATEGORIES = [
    ("理赔申请一个月没有结果", Category.claims),
    ("车险定损金额太低，查勘员态度也差", Category.claims),
    ("想办理退保，被告知要扣很多钱", Category.policy_service),
    ("保单贷款怎么办理", Category.policy_service),
    ("代理人当初销售误导，说是存款", Category.sales_agent_conduct),
    ("业务员联系不上了", Category.sales_agent_conduct),
    ("续期保费扣款失败", Category.renewal),
    ("核保要求体检，不合理", Category.underwriting),
    ("柜面工作人员不耐烦", Category.service_attitude),
    ("分红收益和宣传不一致", Category.product),
    ("请问你们公司地址在哪里", None),
]


@pytest.mark.parametrize(("text", "category"), CATEGORIES, ids=[c[0] for c in CATEGORIES])
def test_category_suggestion(text: str, category: Category | None) -> None:
    assert suggest_category(text) == category
