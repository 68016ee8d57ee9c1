"""Sign-in with OpenID Connect, as in production: the console in production mode
(no development sign-in, sealed Secure cookies), the services trusting the provider's
access tokens, and a test provider (``tests.support.oidc``) in front of a real
Chromium."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from conftest import FAST_ENV
from console.settings import ConsoleSettings, InsecureConsole, check
from services.dev.broker import free_port
from services.dev.stack import CONSOLE, Stack
from tests.support.oidc import LocalProvider
from tests.support.postgres import create_database, drop_database

COORDINATOR = {"sub": "u-ho-cs-lead", "name": "冯协调", "roles": ["head_office_coordinator"], "branch": "HO"}


def test_production_refuses_to_start_without_a_way_to_sign_in() -> None:
    with pytest.raises(InsecureConsole, match="OIDC_ISSUER"):
        check(ConsoleSettings(environment="production", session_secret="s" * 40))
    with pytest.raises(InsecureConsole, match="DEV_ISSUER_KEY"):
        check(ConsoleSettings(environment="production", dev_issuer_key="k", session_secret="s" * 40))
    check(
        ConsoleSettings(
            environment="production",
            session_secret="s" * 40,
            oidc_issuer="https://idp.example",
            oidc_client_id="console",
            oidc_redirect_url="https://console.example/signin/callback",
        )
    )


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    found = LocalProvider().start()
    yield found
    found.stop()


@pytest.fixture(scope="module")
def stack(provider: LocalProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db_name, url = create_database()
    trust = {
        "JWT_ISSUER": provider.issuer,
        "JWT_JWKS_URL": f"{provider.issuer}/jwks",
        "JWT_AUDIENCE": provider.audience,
    }
    port = free_port()
    stack = Stack(var_dir=tmp_path_factory.mktemp("oidc"), database_url=url, env={**FAST_ENV, **trust})
    stack.ports[CONSOLE] = port
    stack.console_env = {
        "ENVIRONMENT": "production",
        "DEV_ISSUER_KEY": "",
        "SESSION_SECRET": secrets.token_urlsafe(40),
        "OIDC_ISSUER": provider.issuer,
        "OIDC_CLIENT_ID": provider.client_id,
        "OIDC_CLIENT_SECRET": provider.client_secret,
        "OIDC_REDIRECT_URL": f"http://127.0.0.1:{port}/signin/callback",
    }
    try:
        stack.start(console=True)
        yield stack
    finally:
        stack.stop()
        drop_database(db_name)


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_sign_in_through_the_identity_provider(stack: Stack, provider: LocalProvider, browser: Browser) -> None:
    provider.user = COORDINATOR
    context = browser.new_context(base_url=stack.url(CONSOLE))
    page = context.new_page()
    page.goto("/")
    expect(page.locator("button[data-user]")).to_have_count(0)  # no development sign-in in production
    page.locator("#oidc").click()
    expect(page.locator(".who")).to_contain_text("冯协调")
    expect(page.locator("h1")).to_have_text("超时看板")  # sla accepted the provider's access token
    session = next(c for c in context.cookies() if c["name"] == "console_session")
    assert session["secure"] and session["httpOnly"]
    assert provider.refused_tokens == 0
    context.close()


def test_a_callback_that_was_not_started_here_is_refused(
    stack: Stack, provider: LocalProvider, browser: Browser
) -> None:
    page = browser.new_context(base_url=stack.url(CONSOLE)).new_page()
    answer = page.goto("/signin/callback?code=forged&state=forged")
    assert answer is not None and answer.status == 403
    expect(page.locator(".detail")).to_contain_text("start again")
    page.context.close()
