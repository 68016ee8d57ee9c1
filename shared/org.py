"""The branch tree: one model for access scope, escalation, calendars and alerts.

A branch's code extends its parent's with ``-`` (GD, GD-SZ, GD-SZ-NS), and the head
office (the one branch without a parent) sits above every top-level code (GD, BJ).
Scope by code (``in_subtree``, ``subtree_clause``) and the chain up to the head office
(``ancestors``) are therefore the same tree; an organisation document whose ``parent``
says otherwise is refused (``shared.routing.OrgDocument``), so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from sqlalchemy import ColumnElement, or_


def in_subtree(branch: str | None, top: str) -> bool:
    """Is ``branch`` ``top`` or under it (GD-SZ-NS is under GD-SZ and under GD)?"""
    return branch is not None and (branch == top or branch.startswith(f"{top}-"))


def subtree_clause(column: ColumnElement[Any], top: str) -> ColumnElement[bool]:
    """The SQL twin of ``in_subtree``: the branch ``top`` and every branch under it."""
    return or_(column == top, column.like(f"{top}-%"))


def code_parent(code: str, head_office: str | None) -> str | None:
    """GD-SZ-NS's parent is GD-SZ, GD's the head office, the head office's none."""
    if code == head_office:
        return None
    return code.rpartition("-")[0] or head_office


def ancestors(branch: str | None, head_office: str | None, known: Container[str] | None = None) -> list[str]:
    """The branch itself, then each parent up to the head office (escalation, alerts).
    With ``known`` (the organisation's branches), a branch it does not hold ends the
    chain: nothing is assumed about where an unknown branch sits."""
    chain: list[str] = []
    while branch and branch not in chain:
        chain.append(branch)
        if known is not None and branch not in known:
            break
        branch = code_parent(branch, head_office)
    return chain


def nearest(branch: str, candidates: Iterable[str], head_office: str | None = None) -> str | None:
    """The candidate closest above (or at) the branch: GD for GD-SZ when GD-SZ has none."""
    wanted = set(candidates)
    return next((b for b in ancestors(branch, head_office) if b in wanted), None)
