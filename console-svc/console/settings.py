"""console-svc's settings (environment variables, as every service's).

The console keeps no case data and has no database: what it needs is where the four
APIs are, how people sign in, and the key its session cookies are sealed with.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_MODES = ("development", "test")


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    environment: str = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    intake_url: str = "http://127.0.0.1:8001"
    routing_url: str = "http://127.0.0.1:8002"
    sla_url: str = "http://127.0.0.1:8003"
    notify_url: str = "http://127.0.0.1:8004"
    api_timeout_seconds: float = 10.0
    #: Development sign-in: a sample user's token signed with the development issuer's
    #: key (``services.dev.issuer``). Refused outside development mode.
    dev_issuer_key: str | None = None
    #: Seals the session cookie (Fernet, derived). Required outside development mode;
    #: in development a random one is made at start (sessions end with the process).
    session_secret: str | None = Field(default=None, min_length=32)
    session_hours: float = Field(default=8.0, gt=0, le=24)
    #: zh-CN by default; en is the alternative (a person switches in the header).
    default_locale: str = "zh-CN"
    #: Where times are shown when a clock does not name its calendar's zone.
    timezone: str = "Asia/Shanghai"
    #: OpenID Connect sign-in (``console.oidc``): the provider whose access tokens the
    #: services verify, this console's client registration there, and the claims that
    #: carry a person's roles and branch.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_url: str | None = Field(default=None, description="https://<console>/signin/callback")
    oidc_scopes: str = "openid profile"
    oidc_roles_claim: str = "roles"
    oidc_branch_claim: str = "branch"
    oidc_name_claim: str = "name"

    @property
    def oidc_configured(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_redirect_url)

    @property
    def is_development(self) -> bool:
        return self.environment in DEVELOPMENT_MODES

    @property
    def api_urls(self) -> dict[str, str]:
        return {
            "intake": self.intake_url.rstrip("/"),
            "routing": self.routing_url.rstrip("/"),
            "sla": self.sla_url.rstrip("/"),
            "notify": self.notify_url.rstrip("/"),
        }


class InsecureConsole(RuntimeError):
    """The console will not start like this."""


def check(settings: ConsoleSettings) -> None:
    """Outside development: no development sign-in, a real session key, and OpenID
    Connect configured, so that nobody is offered a console they cannot sign in to."""
    if settings.is_development:
        return
    problems = []
    if settings.dev_issuer_key:
        problems.append("DEV_ISSUER_KEY is set: the development sign-in is for development only")
    if not settings.session_secret:
        problems.append("SESSION_SECRET (32+ characters) must be set")
    if not settings.oidc_configured:
        problems.append("OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_REDIRECT_URL must name the identity provider")
    if problems:
        raise InsecureConsole(f"refusing to start in {settings.environment} mode: " + "; ".join(problems))
