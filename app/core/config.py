"""Service configuration: environment variables with the PRISM_ prefix, and a .env file."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app import __version__
from app.core.scopes import SCOPES

DEFAULT_DB_URL = "sqlite:///prism.db"


class Settings(BaseSettings):
    """Every knob of the service; README lists each variable."""

    model_config = SettingsConfigDict(
        env_prefix="PRISM_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    api_db_url: str = Field(
        default=DEFAULT_DB_URL,
        validation_alias=AliasChoices("PRISM_API_DB_URL", "PRISM_DB_URL", "api_db_url"),
    )
    # A direct PostgreSQL URL for LISTEN and the jobs' advisory locks when PRISM_API_DB_URL
    # goes through PgBouncer in transaction mode (SPEC §15); unset: PRISM_API_DB_URL.
    api_db_listen_url: str | None = None
    main_db_url: str | None = None
    admin_token: SecretStr | None = None
    secret_key: SecretStr | None = None
    auto_migrate: bool = True
    slow_query_ms: float = Field(default=500, ge=0)
    db_timeout: float = Field(default=30, ge=0)
    main_db_timeout_ms: int = Field(default=2000, ge=1)
    # A main DB that is a logical-replication subscriber warns when a subscription has not
    # heard from its publisher for longer than this (SPEC §15).
    main_db_max_lag_seconds: float = Field(default=60, gt=0)
    retention_samples_days: int = Field(default=7, ge=1)
    # How often the fold job adds the newest samples to the rollups (app/miners/fold.py;
    # 0: not in this process). Reads are exact either way; this bounds the backlog.
    rollup_fold_seconds: float = Field(default=2, ge=0)
    retention_events_days: int = Field(default=90, ge=1)
    agent_offline_after: int = Field(default=300, ge=1)
    # Health and alerts (SPEC §11): the evaluator's period (0 turns it off), the window in
    # which one rule's transitions share one message, and the outbox's retry schedule.
    alert_interval_seconds: float = Field(default=15, ge=0)
    alert_group_seconds: float = Field(default=30, ge=0)
    notify_retry_seconds: float = Field(default=10, gt=0)
    notify_max_attempts: int = Field(default=8, ge=1)
    notify_timeout_seconds: float = Field(default=10, gt=0)
    # Audit log (SPEC §12): rows older than this are pruned, the chain kept from a checkpoint.
    retention_audit_days: int = Field(default=365, ge=1)
    # PRISM_GATEWAY_BASE_URL, then PRISM_ROADGLITCH_BASE_URL: the earlier service's names.
    gateway_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "PRISM_GATEWAY_URL",
            "PRISM_GATEWAY_BASE_URL",
            "PRISM_ROADGLITCH_BASE_URL",
            "gateway_url",
        ),
    )
    gateway_timeout: float = Field(default=10, gt=0)
    # External token verifier (POST {url}/tokens/verify); answers are cached for a while.
    auth_verify_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "PRISM_AUTH_VERIFY_URL", "PRISM_AUTH_BASE_URL", "auth_verify_url"
        ),
    )
    # The scope of a verified token whose own scope the console does not know (`ops`, none
    # at all); `none` refuses such tokens instead.
    auth_verify_default_scope: str = "read"
    auth_verify_timeout: float = Field(default=3, gt=0)
    auth_verify_cache_seconds: float = Field(default=60, ge=0)
    auth_verify_cache_size: int = Field(default=10_000, ge=1)
    # Abuse limits: requests per minute per ingest token, failed sign-ins per minute per client.
    ingest_rate_limit: int = Field(default=1200, ge=1)
    login_rate_limit: int = Field(default=10, ge=1)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or CIDRs).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Input limits.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_clock_skew_seconds: int = Field(default=300, ge=0)
    # Slow clients: a request's headers must arrive within this many seconds of its first
    # byte (or of the connection), a body may pause at most this long between chunks, and
    # an idle keep-alive connection is closed after this long (`prism serve`, app/core/limits.py).
    header_read_timeout_seconds: float = Field(default=10, gt=0)
    body_read_timeout_seconds: float = Field(default=30, gt=0)
    keep_alive_timeout_seconds: int = Field(default=5, ge=1)
    # How often the service prunes by itself; 0 turns the scheduled prune off.
    retention_interval_minutes: float = Field(default=60, ge=0)
    # Scheduled backups (SPEC §15): off while no directory is set.
    backup_dir: Path | None = None
    backup_interval_minutes: float = Field(default=60, gt=0)
    backup_keep_days: float = Field(default=7, gt=0)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    metrics_public: bool = True
    docs_public: bool = True
    # The earlier service's "accept any token" switch: gone; set, it is only warned about.
    mock_mode: str | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    public_url: str = ""
    max_batch_samples: int = Field(default=10_000, ge=1)
    # How long a rendered agent list may be served again (writes here drop it at once).
    read_cache_seconds: float = Field(default=1.0, ge=0)
    stream_heartbeat_seconds: float = Field(default=15, gt=0)
    stream_queue_size: int = Field(default=1000, ge=1)

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: list[str]) -> list[str]:
        # Fail at start-up with the bad entry named, not at the first request.
        # Imported here: app.core.middleware imports modules that read the settings.
        from app.core.middleware import parse_trusted_proxies

        parse_trusted_proxies(value)
        return value

    @field_validator(
        "api_db_listen_url",
        "main_db_url",
        "gateway_url",
        "auth_verify_url",
        "backup_dir",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("public_url", "gateway_url", "auth_verify_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("auth_verify_default_scope")
    @classmethod
    def _known_default_scope(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in (*SCOPES, "none"):
            raise ValueError(
                f"PRISM_AUTH_VERIFY_DEFAULT_SCOPE: {value!r} is not one of "
                f"{', '.join(SCOPES)}, none"
            )
        return value

    def start_up_warnings(self) -> list[str]:
        """What an operator coming from the earlier service must hear about at start-up."""
        warnings = []
        if self.mock_mode is not None:
            warnings.append(
                f"PRISM_MOCK_MODE={self.mock_mode!r} IS IGNORED: mock mode is gone and every "
                "token is checked (console tokens, PRISM_ADMIN_TOKEN, the verifier at "
                "PRISM_AUTH_VERIFY_URL); clients with made-up tokens now get 401. "
                "Unset PRISM_MOCK_MODE."
            )
        return warnings

    @property
    def version(self) -> str:
        return __version__


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
