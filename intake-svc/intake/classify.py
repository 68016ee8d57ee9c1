"""Reading a new case: is a complaint major (重大投诉), and what category is it?

The rules are data (``data/rules.json``), not branches of code (DOMAIN.md section 2):
ops can add a word that threatens the media, or a word that means "claims",
without a release. The file is read once per process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared.enums import Category, Channel

RULES_FILE = Path(__file__).parent / "data" / "rules.json"


@dataclass(frozen=True)
class Rules:
    group_complaint_size: int
    major_channels: frozenset[Channel]
    major_signals: tuple[tuple[str, str], ...]
    category_keywords: tuple[tuple[Category, tuple[str, ...]], ...]


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_FILE) -> Rules:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Rules(
        group_complaint_size=int(data["group_complaint_size"]),
        major_channels=frozenset(Channel(c) for c in data["major_channels"]),
        major_signals=tuple((s["word"], s["signal"]) for s in data["major_signals"]),
        category_keywords=tuple((Category(c["category"]), tuple(c["words"])) for c in data["category_keywords"]),
    )


def major_reasons(text: str, channel: Channel, complainant_count: int, rules: Rules | None = None) -> list[str]:
    """Why a complaint is major, one reason per signal; empty when it is not."""
    rules = rules or load_rules()
    reasons: list[str] = []
    if complainant_count >= rules.group_complaint_size:
        reasons.append(f"group complaint: {complainant_count} complainants")
    if channel in rules.major_channels:
        reasons.append(f"channel: {channel}")
    reasons += [f"text mentions {word} ({signal})" for word, signal in rules.major_signals if word in text]
    return reasons


def suggest_category(text: str, rules: Rules | None = None) -> Category | None:
    """The category whose words appear most often in the text; ties go to the earlier rule."""
    rules = rules or load_rules()
    best, best_hits = None, 0
    for category, words in rules.category_keywords:
        hits = sum(text.count(w) for w in words)
        if hits > best_hits:
            best, best_hits = category, hits
    return best
