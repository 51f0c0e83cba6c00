"""Settings, read from `FEEDBACK_*` environment variables and an optional `.env` file."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import platformdirs
from fastapi import Depends, Request
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from feedback_api.privacy.redaction.entities import (
    DEFAULT_PHONE_REGIONS,
    KNOWN_ENTITIES,
    RedactionConfig,
    check_entities,
    installed_spacy_model,
)
from feedback_api.reasons.schemas import DEFAULT_REASONS, check_label_set

ASYNC_DRIVER = "postgresql+asyncpg"


def normalize_database_url(url: str) -> str:
    """Return `url` with the asyncpg driver, whatever PostgreSQL scheme it was given with.

    People copy URLs from psql, Heroku or docker-compose files (`postgres://`,
    `postgresql://`, `postgresql+psycopg://`); all of them mean the same server to us.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL (expected postgresql://...): {url!r}")
    base = scheme.split("+", 1)[0]
    if base not in ("postgres", "postgresql"):
        raise ValueError(f"only PostgreSQL is supported, got scheme {scheme!r}")
    return f"{ASYNC_DRIVER}://{rest}"


SCOPES = ("ingest", "read", "review", "admin")
# A key's name: who its reviews are by (a reviewer, on their labels).
KEY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")


class ApiKey(NamedTuple):
    """One API key of FEEDBACK_API_KEYS: its scope, the key, and the name it was given."""

    scope: str
    key: str
    name: str | None = None


def parse_key(item: str) -> ApiKey:
    """`scope:key` or `scope:name:key`, checked; a ValueError says what is wrong."""
    scope, sep, rest = (part.strip() for part in item.partition(":"))
    if not sep or not rest:
        raise ValueError(
            "FEEDBACK_API_KEYS takes scope:key or scope:name:key, e.g. read:abc123 or "
            "review:alice:abc123"
        )
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: use {', '.join(SCOPES)}")
    name, sep, key = rest.partition(":")
    if not sep or not KEY_NAME.fullmatch(name):
        name, key = "", rest
    if len(key.strip()) < 16:
        raise ValueError(f"the {scope} key is too short: use 16 or more random characters")
    return ApiKey(scope, key.strip(), name or None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FEEDBACK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # Configuration errors must not echo keys or secrets back to a terminal or log.
        hide_input_in_errors=True,
    )

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: an embedded PostgreSQL is started in data_dir.",
    )
    read_database_url: str | None = Field(
        default=None,
        description="A streaming replica for metrics, exports and reports; writes stay on "
        "database_url.",
    )
    data_dir: Path = Field(
        default_factory=lambda: platformdirs.user_data_path("feedback-api"),
        description="Where the embedded PostgreSQL keeps its data.",
    )
    pool_size: int = Field(default=10, ge=1, le=500)
    max_overflow: int = Field(default=10, ge=0, le=500)
    pool_timeout_seconds: float = Field(default=5.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    statement_timeout_seconds: float = Field(default=30.0, gt=0)
    # Streamed exports (the API's and the CLI's) and background jobs run on connections of
    # their own with these limits: a dataset of a busy week takes minutes, and must not be cut
    # by the 30 s a request gets. 0: no limit.
    export_statement_timeout_seconds: float = Field(
        default=3600.0, ge=0, description="Limit of one export statement (0: none)."
    )
    job_statement_timeout_seconds: float = Field(
        default=3600.0, ge=0, description="Limit of one background job statement (0: none)."
    )
    refresh_interval_seconds: float = Field(default=30.0, gt=0)
    refresh_enabled: bool = Field(
        default=True, description="Run the analytics refresher in this process's lifespan."
    )
    export_positive_weight: float = Field(default=2.0, gt=0, description="weighted format")
    export_negative_weight: float = Field(default=0.5, ge=0, description="weighted format")
    export_schedule_enabled: bool = Field(
        default=False, description="Write last ISO week's datasets once a week."
    )
    export_dir: Path | None = Field(
        default=None, description="Where scheduled exports go (default: data_dir/exports)."
    )
    export_formats: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["weighted"])
    export_check_interval_seconds: float = Field(default=3600.0, gt=0)
    export_label_source: Literal["votes", "reviews", "both"] = Field(
        default="both",
        description="What labels the weekly job's examples: votes, reviews or both "
        "(docs/exports.md).",
    )
    export_redact: bool = Field(
        default=True,
        description="The weekly job redacts personal data from its datasets (false: written "
        "as sent, recorded in its runs and manifests).",
    )
    redact_at_ingest: bool = Field(
        default=False,
        description="Redact the texts of interactions and votes before they are stored.",
    )
    redact_entities: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(KNOWN_ENTITIES),
        description="The entity types redaction looks for (comma list; PERSON and LOCATION "
        "only where a spaCy model is installed).",
    )
    redact_phone_regions: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_PHONE_REGIONS),
        description="Regions whose national phone numbers are found (ISO 3166 codes).",
    )
    redact_spacy_model: str | None = Field(
        default=None,
        description="The installed spaCy model for PERSON and LOCATION (default: the first "
        "installed of en_core_web_lg/md/sm/trf; `none`: no model). Never downloaded.",
    )
    report_schedule_enabled: bool = Field(
        default=False,
        description="Write each finished week's report to report_dir (leader-elected job).",
    )
    report_dir: Path | None = Field(
        default=None, description="Where scheduled weekly reports go (default data_dir/reports)."
    )
    report_check_interval_seconds: float = Field(default=3600.0, gt=0)
    api_keys: Annotated[list[ApiKey], NoDecode] = Field(
        default_factory=list,
        description="Comma list of scope:key or scope:name:key (scopes ingest, read, review, "
        "admin; a name is who the key's reviews are by). None: open mode.",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Signs feedback tokens and keys user pseudonyms."
    )
    token_ttl_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    pseudonymize_users: bool = Field(
        default=False, description="Store user_id and session_id only as keyed HMAC pseudonyms."
    )
    allow_open: bool = Field(
        default=False, description="Allow open mode (no keys) on a non-loopback address."
    )
    metrics_public: bool = Field(
        default=True, description="Serve /metrics without a key (else the read scope)."
    )
    fastapi_telemetry: bool = Field(
        default=False,
        description="FastAPI's own OpenTelemetry spans, metrics and logs, through the "
        "globally configured providers (off: not even looked up on each request).",
    )
    access_log: bool = Field(
        default=True,
        description="One JSON line per request on stderr (the metrics count requests anyway).",
    )
    idempotency_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    otel_intent_attributes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["feedback.intent"],
        description="Span attributes naming a span's intent (POST /v1/traces), first found wins.",
    )
    otel_project_attributes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["feedback.project"],
        description="Span attributes naming a span's project (POST /v1/traces), first found wins.",
    )
    max_future_skew_seconds: float = Field(
        default=300.0, ge=0, description="How far in the future a client's created_at may lie."
    )
    reasons: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_REASONS),
        description="The default label set of a vote's reasons (comma list); a project's own "
        "set (PUT /v1/projects/{project}/reasons) replaces it for that project.",
    )

    alerts_enabled: bool = Field(
        default=True, description="Evaluate regression alerts after each analytics refresh."
    )
    alert_recent_days: int = Field(
        default=7, ge=1, le=90, description="Recent window of the regression test (days)."
    )
    alert_baseline_days: int = Field(
        default=28, ge=1, le=365, description="Baseline window, just before the recent one."
    )
    alert_min_votes: int = Field(
        default=100, ge=1, description="Fewest votes on each side for a segment to be tested."
    )
    alert_min_effect: float = Field(
        default=0.05, gt=0, lt=1, description="Smallest drop of the positive rate that alerts."
    )
    alert_fdr: float = Field(
        default=0.05, gt=0, lt=1, description="False discovery rate (Benjamini-Hochberg)."
    )
    alert_webhook_url: SecretStr | None = Field(
        default=None,
        description="POST each alert that opens or resolves here (JSON). Secret: incoming "
        "webhook URLs carry their own credentials.",
    )
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    alert_webhook_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the delivery job looks for alerts to send."
    )
    alert_webhook_retry_seconds: float = Field(
        default=10.0, gt=0, description="First retry delay; doubled at each failure."
    )
    alert_webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    alert_webhook_max_attempts: int = Field(default=12, ge=1, le=100)

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value().strip() if value else ""
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise ValueError("FEEDBACK_ALERT_WEBHOOK_URL must be an http:// or https:// URL")
        return SecretStr(url)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        return [parse_key(item) for item in (part.strip() for part in value.split(",")) if item]

    @field_validator("secret_key")
    @classmethod
    def _real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        secret = value.get_secret_value()
        placeholders = {"changeme", "change-me", "changethis", "secret", "password", "example"}
        if secret.lower() in placeholders or len(secret) < 32:
            raise ValueError(
                "FEEDBACK_SECRET_KEY must be a real secret of at least 32 characters, e.g. "
                "from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value

    @model_validator(mode="after")
    def _pseudonyms_need_a_secret(self) -> Settings:
        if self.pseudonymize_users and self.secret_key is None:
            raise ValueError("FEEDBACK_PSEUDONYMIZE_USERS=true needs FEEDBACK_SECRET_KEY")
        return self

    @property
    def secret(self) -> str | None:
        return self.secret_key.get_secret_value() if self.secret_key else None

    @field_validator("export_formats")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        from feedback_api.exports.repository import FORMATS

        unknown = [f for f in value if f not in FORMATS]
        if unknown:
            raise ValueError(f"unknown export format {unknown[0]!r}; use {', '.join(FORMATS)}")
        return value

    @field_validator("redact_entities", mode="before")
    @classmethod
    def _entities(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        return check_entities(value) if isinstance(value, list) else value

    @field_validator("redact_phone_regions", mode="before")
    @classmethod
    def _regions(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list):
            return value
        import phonenumbers

        regions = [str(v).strip().upper() for v in value if str(v).strip()]
        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(
                f"unknown region {unknown[0]!r} in FEEDBACK_REDACT_PHONE_REGIONS: use ISO 3166 "
                "codes such as US, GB, DE"
            )
        return regions

    @field_validator("redact_spacy_model")
    @classmethod
    def _spacy_model(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        if value.lower() != "none" and installed_spacy_model(value) is None:
            raise ValueError(
                f"the spaCy model {value!r} of FEEDBACK_REDACT_SPACY_MODEL is not installed "
                "(it is never downloaded): install it, or set none"
            )
        return value

    @property
    def redaction(self) -> RedactionConfig:
        """What redaction looks for, the spaCy model resolved (None: patterns only)."""
        model = self.redact_spacy_model
        return RedactionConfig(
            entities=tuple(self.redact_entities),
            phone_regions=tuple(self.redact_phone_regions),
            spacy_model=None if model == "none" else installed_spacy_model(model),
        )

    @property
    def reports_path(self) -> Path:
        return self.report_dir or self.data_dir / "reports"

    @property
    def exports_path(self) -> Path:
        return self.export_dir or self.data_dir / "exports"

    @field_validator("database_url", "read_database_url")
    @classmethod
    def _normalize_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return normalize_database_url(value.strip())

    @field_validator("reasons")
    @classmethod
    def _label_set(cls, value: list[str]) -> list[str]:
        return check_label_set(value)

    @field_validator(
        "cors_origins",
        "export_formats",
        "reasons",
        "otel_intent_attributes",
        "otel_project_attributes",
        mode="before",
    )
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()


async def settings_of(request: Request) -> Settings:
    """The running app's settings (its lifespan state), for route dependencies."""
    # The lifespan's state as the ASGI scope holds it (`request.state` wraps it per request).
    settings: Settings = request.scope["state"]["settings"]
    return settings


SettingsDep = Annotated[Settings, Depends(settings_of)]
