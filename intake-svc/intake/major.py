"""Is a complaint major (重大投诉)? DOMAIN.md section 2.

The signals are data (``MAJOR_SIGNALS``), not branches of code: a group of 10 or
more complainants, a channel that is itself a regulator, the media or a consumer
association, or words in the text that threaten those.
"""

from __future__ import annotations

from shared.api import CaseCreate
from shared.enums import MAJOR_CHANNELS

GROUP_COMPLAINT_SIZE = 10

#: Words that show the customer went, or threatens to go, outside the company.
MAJOR_SIGNALS: tuple[tuple[str, str], ...] = (
    ("媒体", "media"),
    ("记者", "media"),
    ("曝光", "media"),
    ("电视台", "media"),
    ("监管", "regulator"),
    ("银保监", "regulator"),
    ("金融监管", "regulator"),
    ("保监", "regulator"),
    ("12378", "regulator"),
    ("消协", "consumer_association"),
    ("消费者协会", "consumer_association"),
    ("起诉", "lawsuit"),
    ("法院", "lawsuit"),
    ("集体", "group"),
    ("上访", "petition"),
)


def detect_major(body: CaseCreate) -> list[str]:
    """Why this complaint is major, one reason per signal; empty when it is not."""
    reasons: list[str] = []
    if body.complainant_count >= GROUP_COMPLAINT_SIZE:
        reasons.append(f"group complaint: {body.complainant_count} complainants")
    if body.channel in MAJOR_CHANNELS:
        reasons.append(f"channel: {body.channel}")
    text = f"{body.subject}\n{body.description}"
    for word, signal in MAJOR_SIGNALS:
        if word in text:
            reasons.append(f"text mentions {word} ({signal})")
    return reasons
