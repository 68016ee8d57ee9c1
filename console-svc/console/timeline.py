"""One timeline for a case from what each service knows of it (pure).

intake's history is the case's own lifecycle (accepted, registered, replied,
closed...); routing's transfers say who held it and why; sla's clocks say when each
limit started, paused, was extended, re-planned or breached; notify's deliveries say
who was told. intake also records the other services' events in its history: where the
owning service answered, its own, fuller record is shown instead of intake's copy;
where the person may not read it (a 403), intake's copy stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Entry:
    at: datetime
    source: str
    what: str
    actor: str | None = None


def _at(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def merge(
    history: list[dict[str, Any]],
    assignment: dict[str, Any] | None,
    sla: dict[str, Any] | None,
    deliveries: list[dict[str, Any]] | None,
) -> list[Entry]:
    """Oldest first; entries at the same moment keep the order intake, routing, sla, notify."""
    owners_present = {
        "routing-svc": assignment is not None,
        "sla-svc": sla is not None,
        "notify-svc": deliveries is not None,
    }
    entries: list[Entry] = []
    for h in history:
        if owners_present.get(h["source"], False):
            continue
        status = f" ({h['from_status'] or '—'} → {h['to_status']})" if h.get("to_status") else ""
        entries.append(Entry(_at(h["at"]), h["source"], f"{h['action']}{status}", h.get("actor")))
    for transfer in (assignment or {}).get("history", []):
        holder = transfer.get("to_assignee") or transfer["to_unit"]
        what = f"{transfer['kind']}: {transfer.get('from_unit') or '—'} → {transfer['to_unit']} ({holder})"
        if transfer.get("reason"):
            what += f" — {transfer['reason']}"
        entries.append(Entry(_at(transfer["at"]), "routing-svc", what, transfer.get("from_assignee")))
    for clock in (sla or {}).get("clocks", []):
        entries.append(Entry(_at(clock["started_at"]), "sla-svc", f"{clock['clock']}: started"))
        for change in clock.get("changes", []):
            entries.append(Entry(_at(change["at"]), "sla-svc", f"{clock['clock']}: {change['change']}"))
        for pause in clock.get("pauses", []):
            entries.append(
                Entry(_at(pause["start"]), "sla-svc", f"{clock['clock']}: paused — {pause['reason']}", pause.get("by"))
            )
        if clock.get("breached_at"):
            entries.append(Entry(_at(clock["breached_at"]), "sla-svc", f"{clock['clock']}: breached"))
    for delivery in deliveries or []:
        what = f"{delivery['event_type']} → {delivery['recipient']} ({delivery['channel']}, {delivery['status']})"
        entries.append(Entry(_at(delivery["created_at"]), "notify-svc", what))
    order = {"intake-svc": 0, "routing-svc": 1, "sla-svc": 2, "notify-svc": 3}
    return sorted(entries, key=lambda e: (e.at, order.get(e.source, 9)))
