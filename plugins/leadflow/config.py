"""leadflow's configuration: one validated schema read from `config/leadflow.yml`.

Relative paths in the file are resolved against the project home (`LEADFLOW_HOME`, by default the
checkout that holds `config/`). Secrets never live here: they come from Airflow connections
(`leadflow_warehouse`, `leadflow_crm`, `sendgrid_default`) or environment variables.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from leadflow.crm.config import CrmDeadlineConfig, HubSpotSinkConfig, HubSpotSourceConfig
from leadflow.validation.settings import ValidationSettings


class ConfigError(ValueError):
    """A configuration file is missing or invalid; the message names the file and the field."""


def project_home() -> Path:
    """The project checkout: `LEADFLOW_HOME`, else the folder above `plugins/`."""
    env = os.environ.get("LEADFLOW_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[2]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSourceConfig(_Strict):
    """A file drop: every file matching `pattern` under `path` is loaded once, in name order."""

    kind: Literal["files"] = "files"
    path: Path
    pattern: str


RECONCILE_EVERY_DAYS = 7
"""CRM sources: a night lands only the records changed since the last batch (`updated_at`), and every
this many days all of them, catching edits made without an `updated_at` bump and deleted leads
(docs/adr/0018). 1: every night reconciles."""


class CrmFileSourceConfig(FileSourceConfig):
    """The CRM file drop: each export holds every lead (a full snapshot), one export a night."""

    reconcile_every_days: int = Field(RECONCILE_EVERY_DAYS, ge=1)


class SqlCrmSourceConfig(_Strict):
    """A CRM database reached through an Airflow connection; `columns` maps our names to theirs."""

    kind: Literal["sql"] = "sql"
    conn_id: str = "leadflow_crm"
    table: str
    columns: dict[str, str] = Field(default_factory=dict)
    reconcile_every_days: int = Field(RECONCILE_EVERY_DAYS, ge=1)


CrmSourceConfig = Annotated[CrmFileSourceConfig | SqlCrmSourceConfig | HubSpotSourceConfig, Field(discriminator="kind")]


class SourcesConfig(_Strict):
    crm: CrmSourceConfig
    web: FileSourceConfig


class CrmSinkConfig(_Strict):
    """Where score, stage and reasons are written back: a SQL table (the demo's CRM) or files."""

    kind: Literal["sql", "files"] = "sql"
    conn_id: str = "leadflow_warehouse"
    table: str = "crm.lead_fields"
    path: Path | None = None


ValidationConfig = ValidationSettings  # thresholds of the validation gates (leadflow.validation.settings)


class MailerConfig(_Strict):
    kind: Literal["file", "sendgrid"] = "file"
    outbox: Path = Path("data/outbox")
    sendgrid_conn_id: str = "sendgrid_default"
    sandbox_mode: bool = False
    from_email: str
    from_name: str
    reply_to: str | None = None
    postal_address: str
    unsubscribe_url: str
    preferences_url: str
    asm_group_id: int | None = None
    categories: tuple[str, ...] = ("leadflow", "nurture")
    enabled: bool = True
    """The kill switch: false stops every send (planned emails stay planned)."""


class NurtureConfig(_Strict):
    max_emails_per_run: int = Field(5000, gt=0)
    send_hour: int = Field(10, ge=0, le=23)
    business_hours: tuple[int, int] = (9, 18)
    """`[start, end)` local hours on business days (the lead's own zone) in which email may go out."""
    holiday_countries: tuple[str, ...] = ("JP", "US")
    """Public-holiday calendars that apply: a lead in a listed country is spared its holidays, a lead
    without a country those of the first (home) one, a lead elsewhere only weekends."""
    max_defer_days: int = Field(30, ge=7)
    """A trigger email held back (frequency cap) stays due this many days, then is recorded `expired`."""

    @field_validator("holiday_countries")
    @classmethod
    def _country_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(c.strip().upper() for c in value)
        bad = [c for c in codes if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValueError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(bad)}")
        return codes

    @model_validator(mode="after")
    def _send_hour_in_business_hours(self) -> NurtureConfig:
        start, end = self.business_hours
        if not 0 <= start < end <= 24:
            raise ValueError(f"business_hours {start}-{end}: need 0 <= start < end <= 24")
        if not start <= self.send_hour < end:
            raise ValueError(f"send_hour {self.send_hour} is outside business_hours {start}-{end}")
        return self


class IntakeConfig(_Strict):
    """`leadflow serve`, the public intake: limits, link lifetime and where accepted requests are kept."""

    inbox: Literal["auto", "file", "warehouse"] = "auto"
    """auto: ops.inbox on a PostgreSQL warehouse, fsync'd files under `inbox_path` on the embedded DuckDB."""
    inbox_path: Path = Path("data/inbox")
    max_body_bytes: int = Field(5 * 1024 * 1024, gt=0)
    rate_limit_per_minute: float = Field(600, gt=0)
    """Requests per client IP and minute (a token bucket); past it: 429 with Retry-After."""
    rate_limit_burst: int = Field(120, gt=0)
    link_max_age_days: int = Field(400, ge=60)
    """How long unsubscribe and preferences links work (at least 60 days)."""
    max_clock_skew_seconds: int = Field(600, gt=0)
    """A SendGrid event signature timestamp further than this from now is refused (replay)."""
    trust_forwarded_for: bool = False
    """Take the client IP from X-Forwarded-For (only behind a proxy you run)."""
    access_log: Path | None = None
    """JSON-lines access log file; null: standard error."""


class RetentionConfig(_Strict):
    """How long each layer keeps what it holds (days; docs/adr/0014 says why each default is enough)."""

    raw_days: int = Field(35, ge=8)
    """Raw batches kept whole (CRM snapshots, web events) and their landing files: how far back a rerun
    can go. Older CRM snapshots are compacted to each lead's latest record (what staging needs)."""
    events_days: int = Field(215, ge=30)
    """core.events and its keyed copy: the longest engagement window (180) plus raw_days."""
    score_history_days: int = Field(42, ge=8)
    """scoring.lead_scores and score_factors: raw_days plus the 7 days score_change_7d looks back."""
    ledger_days: int = Field(400, ge=30)
    """Finished sends and exited enrolments (nurture.email_sends, nurture.enrollments): as long as links work."""
    quarantine_days: int = Field(35, ge=8)
    """ops.quarantine: at least raw_days (staging skips the raw rows quarantine names)."""
    held_events_days: int = Field(35, ge=8)
    """ops.held_events after the night they were due (staged by then)."""
    inbox_days: int = Field(30, ge=3)
    """Applied ops.inbox records and fully loaded data/inbox segments."""
    outbox_days: int = Field(30, ge=1)
    """.eml files of the file outbox."""
    logs_days: int = Field(30, ge=1)
    """Airflow task log files under the logging base folder."""

    @model_validator(mode="after")
    def _covers_reruns(self) -> RetentionConfig:
        for name in ("quarantine_days", "held_events_days", "score_history_days"):
            if getattr(self, name) < self.raw_days:
                raise ValueError(f"{name} {getattr(self, name)} is below raw_days {self.raw_days}: reruns need it")
        return self


class PrivacyConfig(_Strict):
    """Personal data: retention per layer and the folders an erasure cleans besides the known ones."""

    retention: RetentionConfig = RetentionConfig()
    scrub_paths: tuple[Path, ...] = (Path("gx/uncommitted"), Path("data/preview"))
    """Folders of derived files (GX results and Data Docs, template previews) where an erased person's
    values are replaced by `[erased]`."""


class Settings(_Strict):
    timezone: str = "Asia/Tokyo"
    schedule: str | None = "0 2 * * *"
    """Cron in `timezone` for the nightly DAG; null for runs triggered only by hand or the API."""
    warehouse_conn_id: str = "leadflow_warehouse"
    scoring_rules: Path = Path("config/scoring.yml")
    sequences: Path = Path("config/sequences.yml")
    templates: Path = Path("email_templates")
    reports: Path = Path("data/reports")
    """Where the nightly report goes, one folder per as-of date (`leadflow report`)."""
    sources: SourcesConfig
    crm_sink: Annotated[CrmSinkConfig | HubSpotSinkConfig, Field(discriminator="kind")] = CrmSinkConfig()
    crm_deadline: CrmDeadlineConfig = CrmDeadlineConfig()
    validation: ValidationSettings = ValidationSettings()
    mailer: MailerConfig
    nurture: NurtureConfig = NurtureConfig()
    intake: IntakeConfig = IntakeConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    home: Path = Field(default_factory=project_home)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def path(self, relative: Path | str) -> Path:
        """An absolute path: `relative` resolved against the project home."""
        p = Path(relative)
        return p if p.is_absolute() else self.home / p


def _format_errors(source: Path, exc: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def read_yaml(path: Path) -> dict:
    """A YAML mapping from `path`, or ConfigError naming the file."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_settings(path: Path | str | None = None) -> Settings:
    """Settings from `path`, `LEADFLOW_CONFIG`, or `<home>/config/leadflow.yml`, in that order."""
    home = project_home()
    source = Path(path or os.environ.get("LEADFLOW_CONFIG") or home / "config" / "leadflow.yml")
    data = read_yaml(source)
    data.setdefault("home", str(home))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None


@cache
def settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
