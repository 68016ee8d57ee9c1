"""Reports: the figures of DOMAIN.md section 7 as charts with their tables, and their
exports (CSV, XLSX, and the monthly agent-complaint report).

The sums come from the services, computed by their databases: case figures from
intake (``GET /v1/reports/cases``), timeliness and the time each step took from sla
(``GET /v1/timeliness``). The console only lays them out; a person without
``reports:read`` gets the APIs' 403.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from console.apis import answered
from console.pages import PAGE_HEADERS, render
from console.routes import PersonDep
from console.sessions import Person
from console.state import state_of

router = APIRouter()

#: Each way to break the figures down: intake's grouping and sla's (None: that side has none).
DIMENSIONS: dict[str, tuple[str | None, str | None]] = {
    "branch": ("branch", "branch"),
    "channel": ("channel", None),
    "category": ("category", "category"),
    "team": (None, "team"),
    "agent": ("agent", None),
    "month": ("month", "month"),
    "kind": ("kind", None),
    "clock": (None, "clock"),
}
CASE_COLUMNS = [
    "group", "cases", "complaints", "closed", "resolution_rate", "repeat_complaints", "satisfaction_answers",
    "satisfaction_average", "agent_complaints", "agent_complaints_closed", "misconduct_found", "misconduct_share",
    "average_handling_hours",
]  # fmt: skip
TIMELINESS_COLUMNS = ["group", "clocks", "met", "breached", "running", "timeliness_rate", "average_hours"]
#: The monthly agent-complaint report's source columns (the seeds: 95519, letters, the regulator).
AGENT_REPORT_SOURCES = [("hotline", "95519 客服电话"), ("letter", "客户信函"), ("regulator", "监管转办")]


def _period(request: Request, zone: ZoneInfo) -> dict[str, str]:
    """since/until as the API wants them (moments), from the form's dates (branch time)."""
    found: dict[str, str] = {}
    for name in ("since", "until"):
        raw = request.query_params.get(name)
        if raw:
            day = date.fromisoformat(raw) + (timedelta(days=1) if name == "until" else timedelta())
            found[name] = datetime.combine(day, time(), zone).isoformat()
    if request.query_params.get("branch_code"):
        found["branch_code"] = request.query_params["branch_code"]
    return found


async def figures(request: Request, person: Person) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    state = state_of(request)
    dimension = request.query_params.get("group_by", "branch")
    if dimension not in DIMENSIONS:
        dimension = "branch"
    on_cases, on_clocks = DIMENSIONS[dimension]
    period = _period(request, ZoneInfo(state.settings.timezone))
    apis = state.apis
    cases, clocks = await apis.gather(
        apis.get("intake", "/v1/reports/cases", person.token, group_by=on_cases, **period)
        if on_cases
        else answered([]),
        apis.get("sla", "/v1/timeliness", person.token, group_by=on_clocks, **period) if on_clocks else answered([]),
    )
    return dimension, cases or [], clocks or []


@router.get("/reports")
async def reports_page(request: Request, person: PersonDep) -> Response:
    dimension, cases, clocks = await figures(request, person)
    return render(
        "reports.html", person, person.locale, dimension=dimension, dimensions=list(DIMENSIONS), cases=cases,
        clocks=clocks, query=request.url.query, params=dict(request.query_params), case_columns=CASE_COLUMNS,
        timeliness_columns=TIMELINESS_COLUMNS,
    )  # fmt: skip


def _rows(table: list[dict[str, Any]], columns: list[str]) -> list[list[Any]]:
    return [[row.get(c) for c in columns] for row in table]


@router.get("/reports/export.csv")
async def export_csv(request: Request, person: PersonDep) -> Response:
    """One table as CSV (UTF-8 with a byte-order mark, so that Excel reads the Chinese)."""
    dimension, cases, clocks = await figures(request, person)
    clocks_wanted = request.query_params.get("table") == "timeliness"
    columns = TIMELINESS_COLUMNS if clocks_wanted else CASE_COLUMNS
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([dimension if c == "group" else c for c in columns])
    writer.writerows(_rows(clocks if clocks_wanted else cases, columns))
    name = f"{'timeliness' if clocks_wanted else 'cases'}-by-{dimension}.csv"
    return _download(("\ufeff" + out.getvalue()).encode(), "text/csv; charset=utf-8", name)


@router.get("/reports/export.xlsx")
async def export_xlsx(request: Request, person: PersonDep) -> Response:
    dimension, cases, clocks = await figures(request, person)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for title, table, columns in (("cases", cases, CASE_COLUMNS), ("timeliness", clocks, TIMELINESS_COLUMNS)):
        sheet = sheet if title == "cases" else book.create_sheet()
        sheet.title = title
        sheet.append([dimension if c == "group" else c for c in columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in _rows(table, columns):
            sheet.append(row)
    return _download(_saved(book), XLSX, f"figures-by-{dimension}.xlsx")


@router.get("/reports/agent-monthly.xlsx")
async def agent_monthly(request: Request, person: PersonDep) -> Response:
    """客户投诉个人代理人月报表: per branch, the month's complaints against individual
    agents by where they came from (95519, letters, the regulator, other), how many
    were closed, and how many of those found misconduct, with the share."""
    state = state_of(request)
    zone = ZoneInfo(state.settings.timezone)
    month = request.query_params.get("month") or date.today().strftime("%Y-%m")
    first = date.fromisoformat(f"{month}-01")
    after = (first + timedelta(days=32)).replace(day=1)
    params = {
        "group_by": "branch",
        "then_by": "channel",
        "agent_complaints_only": "true",
        "since": datetime.combine(first, time(), zone).isoformat(),
        "until": datetime.combine(after, time(), zone).isoformat(),
    }
    if request.query_params.get("branch_code"):
        params["branch_code"] = request.query_params["branch_code"]
    rows = await state.apis.get("intake", "/v1/reports/cases", person.token, **params)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = month
    sheet.append([f"客户投诉个人代理人月报表（{month}）"])
    sheet["A1"].font = Font(bold=True, size=14)
    header = ["机构", "投诉个人代理人案件数", *(label for _, label in AGENT_REPORT_SOURCES), "其他渠道", "已结案件", "存在违规情节", "违规占比"]  # fmt: skip
    sheet.append(header)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True)
    for branch, line in _agent_lines(rows).items():
        sheet.append([branch, *line])
    return _download(_saved(book), XLSX, f"agent-complaints-{month}.xlsx")


def _agent_lines(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Branch -> [total, per source..., other, closed, misconduct, share], plus 合计."""
    sources = [s for s, _ in AGENT_REPORT_SOURCES]
    lines: dict[str, list[Any]] = {}
    for r in rows:
        line = lines.setdefault(r["group"], [0] * (len(sources) + 4))
        line[0] += r["cases"]
        at = sources.index(r["subgroup"]) + 1 if r["subgroup"] in sources else len(sources) + 1
        line[at] += r["cases"]
        line[-2] += r["agent_complaints_closed"]
        line[-1] += r["misconduct_found"]
    if lines:
        lines["合计"] = [sum(col) for col in zip(*lines.values(), strict=True)]
    return {b: [*line, round(line[-1] / line[-2], 4) if line[-2] else None] for b, line in lines.items()}


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _saved(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _download(body: bytes, media_type: str, name: str) -> Response:
    headers = {**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media_type, headers=headers)
