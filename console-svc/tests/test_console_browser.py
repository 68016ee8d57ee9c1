"""The console in a real headless Chromium (Debian's package, driven by Playwright),
over the four services and the broker as real processes on Postgres.

Each page's screenshot is kept under ``var/test-artefacts/console/`` (look at them)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import System, start_system, stop_system
from services.dev.stack import CONSOLE
from services.registry import ROOT
from tests.support.cases import complaint, inquiry

pytestmark = pytest.mark.stack

ARTEFACTS = Path(os.environ.get("TEST_ARTEFACTS", ROOT / "var" / "test-artefacts")) / "console"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system, db_name = start_system(tmp_path_factory.mktemp("console"), "postgres", console=True)
    yield system
    stop_system(system, db_name)


@pytest.fixture(scope="module")
def browser(system: System) -> Iterator[Browser]:
    """After the system: Playwright's sync API keeps an event loop running in this
    thread, and the system's start-up runs one of its own."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, system: System) -> Iterator[Page]:
    context = browser.new_context(base_url=system.stack.url(CONSOLE), locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # CSP refusals show here
    yield page
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, user: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/signin"))
    page.locator(f"button[data-user='{user}']").click()
    expect(page.locator(".who")).to_contain_text(user)


def new_case(system: System, **overrides: object) -> dict:
    with system.client("intake-svc") as intake:
        answer = intake.post("/v1/cases", json=complaint(**overrides))
        assert answer.status_code == 201, answer.text
        return answer.json()  # type: ignore[no-any-return]


def test_sign_in_and_a_breach_appears_on_the_board_without_a_reload(page: Page, system: System) -> None:
    page.goto("/signin")
    shot(page, "signin")
    sign_in(page, "coordinator-ho")
    expect(page.locator("h1")).to_have_text("超时看板")
    expect(page.locator("#live-status")).to_have_text("实时更新中", timeout=10_000)
    page.evaluate("window.stillTheSamePage = true")
    late = new_case(system, days_ago=40)  # received 40 days ago: its limits have passed
    row = page.locator(f".late tr[data-case='{late['id']}']").first
    expect(row).to_be_visible(timeout=30_000)
    assert page.evaluate("window.stillTheSamePage") is True  # swapped in live, not reloaded
    expect(row).to_contain_text(late["case_no"])  # the case as staff know it
    expect(row).to_contain_text("GD-SZ")
    shot(page, "board")


def test_search_by_phone_then_the_case_page_brings_every_service_together(page: Page, system: System) -> None:
    case = new_case(system, days_ago=20, customer={"name": "赵六", "phone": "13655556666", "policy_no": "P-77"})
    sign_in(page, "coordinator-ho")
    page.goto("/search")
    page.get_by_label("手机号").fill("136 5555 6666")
    page.get_by_role("button", name="查询", exact=True).click()
    results = page.locator("table.results tbody tr")
    expect(results).to_have_count(1)
    expect(results).to_contain_text("136****6666")  # masked, as the API shows it
    shot(page, "search")
    assert "13655556666" not in page.url  # the number went in the form body, not the URL
    page.get_by_role("link", name=case["case_no"]).click()
    expect(page.locator("h1")).to_contain_text(case["case_no"])
    # Every clock, with what is left said in its limit's unit.
    closure = page.locator("table.clocks tr[data-clock='closure']")
    expect(closure).to_contain_text("已超时")
    expect(closure).to_contain_text("个工作日")
    expect(page.locator("table.clocks tr[data-clock='regulatory'] .explanation")).to_contain_text("Civil Code")
    # The timeline brings intake's, routing's and sla's records together.
    timeline = page.locator("ol.timeline")
    for source in ("intake-svc", "routing-svc", "sla-svc"):
        expect(timeline.locator(f"li[data-source='{source}']").first).to_be_visible(timeout=15_000)
    expect(page.locator("[data-field='owner']")).not_to_have_text("—", timeout=15_000)
    expect(page.locator("[data-field='phone']")).to_contain_text("136****6666")
    shot(page, "case")
    # Personal data in clear needs pii:read, which a coordinator has not: no button.
    expect(page.get_by_role("button", name="显示完整手机号和证件号")).to_have_count(0)
    specialist = page.context.browser.new_context(base_url=system.stack.url(CONSOLE)).new_page()  # type: ignore[union-attr]
    sign_in(specialist, "specialist-sz")
    specialist.goto(f"/cases/{case['id']}")
    specialist.get_by_role("button", name="显示完整手机号和证件号").click()
    expect(specialist.locator("[data-field='phone']")).to_have_text("13655556666")
    with system.client("intake-svc") as intake:
        audit = intake.get("/v1/audit", params={"pii_reads": "true"}).json()
    assert any(e["target"] == case["id"] and e["actor"] == "u-sz-cs-1" for e in audit), audit  # the reveal is audited
    specialist.goto(f"/cases/{case['id']}")  # a plain visit shows the masked form again
    expect(specialist.locator("[data-field='phone']")).to_contain_text("136****6666")
    specialist.context.close()
    page.get_by_role("button", name="English").click()
    expect(page.locator("h2#timeline-h")).to_have_text("Timeline")
    expect(page.locator("table.clocks tr[data-clock='closure']")).to_contain_text("working days late")


def test_a_case_out_of_scope_is_404_and_a_refused_page_403(page: Page, system: System) -> None:
    case = new_case(system)  # a Shenzhen case
    sign_in(page, "specialist-bj")  # Beijing
    answer = page.goto(f"/cases/{case['id']}")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text("未找到")
    shot(page, "not-found")
    answer = page.goto("/board/rows")  # the board's figures are for roles that read reports
    assert answer is not None and answer.status == 403
    expect(page.locator("h1")).to_have_text("无权访问")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/work$"))  # their own work instead of the board


def test_a_form_without_its_csrf_token_is_refused(page: Page, system: System) -> None:
    sign_in(page, "coordinator-ho")
    answer = page.request.post("/search", form={"phone": "13655556666"})
    assert answer.status == 403
    answer = page.request.post("/signout", form={"csrf": "forged"})
    assert answer.status == 403
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["console_session"]["httpOnly"] is True
    assert "13655556666" not in cookies["console_session"]["value"]


def test_a_transfer_and_a_close_through_the_buttons_and_a_409_says_what_is_allowed(
    page: Page, browser: Browser, system: System
) -> None:
    with system.client("intake-svc") as intake:
        case = intake.post("/v1/cases", json=inquiry()).json()
    sign_in(page, "coordinator-ho")
    page.goto(f"/cases/{case['id']}")
    expect(page.locator("[data-field='assignee']")).not_to_have_text("排队中", timeout=15_000)
    page.reload()  # routing has it now: the transfer is offered

    for kind in ("work_order", "escalate", "return"):  # each its own button
        expect(page.locator(f"details[data-operation='routing:{kind}']")).to_have_count(1)
    transfer = page.locator("details[data-operation='routing:transfer']")
    transfer.locator("summary").click()
    transfer.get_by_label("to_unit").fill("GD-SZ.policy-service")
    transfer.get_by_label("reason *").fill("保全问题，转保全岗")
    transfer.get_by_role("button").click()
    expect(page.locator("[data-field='unit']")).to_have_text("GD-SZ.policy-service", timeout=15_000)
    expect(page.locator("ol.timeline")).to_contain_text("保全问题，转保全岗")

    note = page.locator("details[data-operation='intake:note']")
    note.locator("summary").click()
    note.get_by_label("text *").fill("客户要求书面答复")
    note.get_by_role("button").click()
    expect(page.locator("section[aria-labelledby='notes-h']")).to_contain_text("客户要求书面答复")

    stale = page.context.new_page()  # the same case open in a second tab, before the reply
    stale.goto(f"/cases/{case['id']}")

    page.locator("details[data-operation='intake:reply'] summary").click()
    page.locator("details[data-operation='intake:reply']").get_by_role("button").click()
    expect(page.locator("h1 .status")).to_have_text("replied")
    close = page.locator("details[data-operation='intake:close']")
    close.locator("summary").click()
    close.get_by_label("customer_accepted").check()
    close.get_by_role("button").click()
    expect(page.locator("h1 .status")).to_have_text("closed")
    shot(page, "case-closed")

    # The second tab still offers the reply: the API refuses it (409) and the page says what is allowed.
    stale.locator("details[data-operation='intake:reply'] summary").click()
    stale.locator("details[data-operation='intake:reply']").get_by_role("button").click()
    expect(stale.locator("#problem")).to_contain_text("record-satisfaction")
    expect(stale.locator("h1 .status")).to_have_text("closed")
    shot(stale, "case-409")
    stale.close()


def test_an_action_offered_only_to_roles_that_may_take_it(page: Page, system: System) -> None:
    case = new_case(system)
    sign_in(page, "auditor")  # reads cases, acts on none
    page.goto(f"/cases/{case['id']}")
    expect(page.locator("h1")).to_contain_text(case["case_no"])
    expect(page.locator("details[data-operation]")).to_have_count(0)


def test_a_case_created_at_the_counter_with_hints_as_the_clerk_types(page: Page, system: System) -> None:
    earlier = new_case(system, branch_code="GD-SZ-NS", customer={"name": "孙七", "phone": "13811112222"})
    sign_in(page, "clerk-ns")
    page.get_by_role("link", name="新建案件").click()
    expect(page.locator("h1")).to_have_text("新建案件")
    page.get_by_label("主题 *").fill("理赔拖延")
    page.get_by_label("内容 *").fill("客户称理赔一直没有结果，再不处理就向媒体曝光。")
    hints = page.locator("#hints")
    expect(hints.locator("[data-hint='major']")).to_be_visible()  # shown as the clerk types
    expect(hints.locator("[data-hint='category']")).to_contain_text("claims")
    page.get_by_label("客户姓名 *").fill("孙七")
    page.get_by_label("手机号 *").fill("13811112222")
    expect(hints.locator("[data-hint='duplicates']")).to_contain_text(earlier["case_no"])
    policy = page.get_by_label("保单号")
    expect(policy).to_be_disabled()  # no policy details before the identity check
    page.get_by_label("证件类型").select_option("resident_id")
    page.get_by_label("已核验客户身份证件").check()
    expect(policy).to_be_enabled()
    policy.fill("P-NS-001")
    shot(page, "new-case")
    page.get_by_role("button", name="受理").click()
    expect(page).to_have_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
    expect(page.locator("h1 .major")).to_be_visible()  # intake found it major, as the hint said
    # The case file's facts (the assignment's, a second ``dl.facts``, shows once routing has assigned it).
    case_file = page.locator("section[aria-labelledby='file-h'] dl.facts")
    expect(case_file).to_contain_text("P-NS-001")  # identity verified: the policy is shown
    expect(page.locator("[data-field='phone']")).to_contain_text("138****2222")
    shot(page, "new-case-accepted")


def test_my_work_lists_what_i_hold_and_a_lead_sees_the_team(page: Page, browser: Browser, system: System) -> None:
    with system.client("intake-svc") as intake:
        case = intake.post("/v1/cases", json=inquiry(subject="我的工作测试")).json()
    with system.client("routing-svc") as routing:  # to specialist-sz (u-sz-cs-1), whoever routing chose
        path = f"/v1/cases/{case['id']}/assignment"
        for _ in range(40):
            held_by = routing.get(path)
            if held_by.status_code == 200 and held_by.json()["assignee"]:
                break
            time.sleep(0.25)
        if held_by.json()["assignee"] != "u-sz-cs-1":
            body = {"to_unit": "GD-SZ.cs", "to_assignee": "u-sz-cs-1", "reason": "test"}
            assert routing.post(f"/v1/cases/{case['id']}/transfers", json=body).status_code == 201
    sign_in(page, "specialist-sz")
    held = page.locator(f"#held tr[data-case='{case['id']}']")
    for _ in range(20):  # routing assigns it within moments of its acceptance
        page.goto("/work")
        if held.count():
            break
        page.wait_for_timeout(500)
    expect(held).to_contain_text("我的工作测试")
    shot(page, "my-work")
    lead = browser.new_context(base_url=system.stack.url(CONSOLE)).new_page()
    sign_in(lead, "lead-sz")
    lead.goto("/work")
    expect(lead.locator("h2", has_text="团队队列").first).to_be_visible()
    expect(lead.locator("table.people").first).to_contain_text("u-sz-cs-1")
    shot(lead, "my-work-lead")
    lead.context.close()


def test_reports_chart_and_table_and_the_exports_cell_by_cell(page: Page, system: System) -> None:
    from openpyxl import load_workbook

    with system.client("intake-svc") as intake:
        made = intake.post("/v1/cases", json=complaint(agent_code="AG-77", channel="letter")).json()
        for action, body in (("register", {}), ("reply", {}), ("close", {"customer_accepted": True, "finding": "misconduct_found"})):  # fmt: skip
            answer = intake.post(f"/v1/cases/{made['id']}/actions/{action}", json={"actor": "u-test", **body})
            assert answer.status_code == 200, answer.text
        expected = {r["group"]: r for r in intake.get("/v1/reports/cases", params={"group_by": "branch"}).json()}
        monthly = intake.get(
            "/v1/reports/cases",
            params={"group_by": "branch", "then_by": "channel", "agent_complaints_only": "true"},
        ).json()
    sign_in(page, "coordinator-ho")
    page.get_by_role("link", name="统计报表").click()
    expect(page.locator("h1")).to_have_text("统计报表")
    figures = page.locator("table#case-figures")
    sz_row = figures.locator("tbody tr").filter(has=page.locator("td", has_text=re.compile(r"^GD-SZ$")))
    expect(sz_row.locator("td").nth(1)).to_have_text(str(expected["GD-SZ"]["cases"]))
    expect(page.locator("svg.chart rect").first).to_be_visible()
    expect(page.locator("table#timeliness")).to_be_visible()
    shot(page, "reports")

    with page.expect_download() as download:
        page.get_by_role("link", name="XLSX").click()
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()))
    sheet = book["cases"]
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["branch", "cases", "complaints", "closed"]
    rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    for branch, figures_of in expected.items():  # every cell as the API summed it
        assert list(rows[branch]) == [branch, *(figures_of[c] for c in header[1:])], branch
    assert [c.value for c in book["timeliness"][1]][:3] == ["branch", "clocks", "met"]

    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    with page.expect_download() as download:
        page.goto(f"/reports?month={month}")
        page.get_by_role("link", name="客户投诉个人代理人月报表").click()
    report = load_workbook(io.BytesIO(download.value.path().read_bytes()))[month]
    assert report["A1"].value == f"客户投诉个人代理人月报表（{month}）"
    assert [c.value for c in report[2]] == [
        "机构", "投诉个人代理人案件数", "95519 客服电话", "客户信函", "监管转办", "其他渠道", "已结案件", "存在违规情节", "违规占比",
    ]  # fmt: skip
    lines = {r[0]: r for r in report.iter_rows(min_row=3, values_only=True)}
    sz = [r for r in monthly if r["group"] == "GD-SZ"]
    assert lines["GD-SZ"][1] == sum(r["cases"] for r in sz)
    assert lines["GD-SZ"][3] == sum(r["cases"] for r in sz if r["subgroup"] == "letter") >= 1
    assert lines["GD-SZ"][7] == sum(r["misconduct_found"] for r in sz) >= 1
    assert list(lines)[-1] == "合计" and lines["合计"][1] == sum(r["cases"] for r in monthly)


AXE = ROOT / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"


def accessibility_problems(page: Page) -> list[str]:
    """axe-core's WCAG 2 A and AA rules in the page as it is now: what is serious or critical."""
    if not AXE.exists():  # make test installs it (make axe); a bare pytest run does too
        subprocess.run(["make", "-C", str(ROOT), "axe"], check=True)
    page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_every_page_passes_the_accessibility_check(page: Page, system: System) -> None:
    case = new_case(system, days_ago=12)
    sign_in(page, "coordinator-ho")
    problems = {}
    for path in ("/", "/search", f"/cases/{case['id']}", "/work", "/reports", "/signin"):
        page.goto(path)
        problems[path] = accessibility_problems(page)
    clerk = page.context.browser.new_context(base_url=system.stack.url(CONSOLE)).new_page()  # type: ignore[union-attr]
    sign_in(clerk, "clerk-ns")
    clerk.goto("/new")
    problems["/new"] = accessibility_problems(clerk)
    clerk.context.close()
    assert not any(problems.values()), problems
    # The check itself finds what it should: a field without a label, a button without a name.
    page.set_content('<html lang="zh-CN"><body><main><input id="x"><button></button></main></body></html>')
    found = accessibility_problems(page)
    assert any(p.startswith("label") for p in found) and any(p.startswith("button-name") for p in found), found
