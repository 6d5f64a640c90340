"""Scoring rules: the validated form of `config/scoring.yml`, its version hash and its table rows."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leadflow.batches import model_params
from leadflow.config import ConfigError, Settings, read_yaml
from leadflow.vocabulary import EVENT_TYPES
from leadflow.warehouse import Warehouse

FIT_FIELDS = (
    "job_title",
    "industry",
    "employee_count",
    "company",
    "email",
    "country",
    "lead_source",
    "locale",
)
# the factor that clamps a total to score_range (sql/scoring/day_factors.sql): no rule may take its id
CLAMP_RULE_ID = "score_range"
# the models that key events and score a date, in order: one table each, run in one transaction
KEYING_MODELS = (
    "scoring/lead_keys.sql",
    "scoring/event_triples.sql",
    "scoring/keyed_events.sql",
    "scoring/keyed_event_batches.sql",
)
SCORING_MODELS = (
    "scoring/rule_keys.sql",
    "scoring/triple_rules.sql",
    "scoring/state_rules.sql",
    "scoring/rule_state.sql",
    "scoring/lead_activity.sql",
    "scoring/rule_state_runs.sql",
    "scoring/day_factors.sql",
    "scoring/score_factors.sql",
    "scoring/lead_scores.sql",
)
Operator = Literal["eq", "in", "not_in", "gte", "lte", "between", "contains", "regex", "is_null", "email_domain_in"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Label(_Strict):
    ja: str
    en: str


class FitRule(_Strict):
    """Points for a lead attribute; within a `group` only the first matching rule counts."""

    id: str
    group: str
    field: Literal[FIT_FIELDS]  # type: ignore[valid-type]
    op: Operator
    value: str | float | list[str] | list[float] | None = None
    points: float
    label: Label

    @model_validator(mode="after")
    def _value_fits_operator(self) -> FitRule:
        op, value = self.op, self.value
        if op in {"in", "not_in", "email_domain_in"} and not (isinstance(value, list) and value):
            raise ValueError(f"operator {op!r} needs a non-empty list value")
        if op == "between" and not (isinstance(value, list) and len(value) == 2):
            raise ValueError("operator 'between' needs [low, high]")
        if op in {"gte", "lte"} and not isinstance(value, int | float):
            raise ValueError(f"operator {op!r} needs a number")
        if op in {"eq", "contains", "regex"} and not isinstance(value, str):
            raise ValueError(f"operator {op!r} needs a text value")
        if op == "is_null" and value is not None:
            raise ValueError("operator 'is_null' takes no value")
        if op == "regex":
            _check_regex(str(value))
        return self


def _check_regex(pattern: str) -> None:
    """A pattern both warehouses and Python accept (the SQL engines are stricter about some syntax)."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None


class EngagementRule(_Strict):
    """Decayed points per counted event of one type, capped, with a per-day limit against gaming."""

    id: str
    event: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    url_pattern: str | None = None
    properties: dict[Literal["asset"], str] | None = None
    """Regular expressions an event's properties must match (core.events keeps `asset`)."""
    points: float
    cap: float = Field(gt=0)
    half_life_days: float = Field(gt=0)
    window_days: int = Field(gt=0)
    max_per_day: int = Field(1, gt=0)
    hand_raiser: bool = False
    label: Label

    @model_validator(mode="after")
    def _patterns_compile(self) -> EngagementRule:
        for pattern in [self.url_pattern, *(self.properties or {}).values()]:
            if pattern is not None:
                _check_regex(pattern)
        return self


class StageRules(_Strict):
    warm_threshold: float
    hot_threshold: float
    bant_required: int = Field(3, ge=1, le=4)
    hot_sla_days: int = Field(14, gt=0)
    silence_days: int = Field(90, gt=0)


class ScoringRules(_Strict):
    """One scoring profile: fit and engagement rules, grades, range and stage thresholds."""

    profile: str = "default"
    score_range: tuple[float, float] = (0, 100)
    fit_grades: dict[Literal["A", "B", "C"], float]
    heating_up_delta: float = 15
    top_reasons: int = Field(3, ge=1, le=10)
    stages: StageRules
    fit: list[FitRule]
    engagement: list[EngagementRule]

    @model_validator(mode="after")
    def _unique_ids(self) -> ScoringRules:
        ids = [r.id for r in self.fit] + [r.id for r in self.engagement]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique; repeated: {', '.join(dupes)}")
        if CLAMP_RULE_ID in ids:
            raise ValueError(f"rule id {CLAMP_RULE_ID!r} is reserved for the clamp to score_range; rename the rule")
        if self.stages.warm_threshold >= self.stages.hot_threshold:
            raise ValueError("stages.warm_threshold must be below stages.hot_threshold")
        low, high = self.score_range
        if low >= high:
            raise ValueError("score_range must be [low, high] with low below high")
        if not self.fit_grades["A"] >= self.fit_grades["B"] >= self.fit_grades["C"]:
            raise ValueError("fit_grades must not increase from A to C")
        return self

    @property
    def version(self) -> str:
        """A short hash of the rules' content: the `rules_version` stored with every score."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def profile_names(path: Path) -> list[str]:
    """The profiles `path` defines: `default` (its top level) and every entry under `profiles:`."""
    return ["default", *sorted((read_yaml(path).get("profiles") or {}).keys())]


def _profile_data(path: Path, data: dict[str, Any], profile: str | None) -> dict[str, Any]:
    """The top level of the file, with `profiles.<profile>` laid over it (whole keys; `stages` by key)."""
    profiles = data.pop("profiles", None) or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: profiles must be a mapping of profile name to overrides")
    if profile in (None, "default"):
        return data
    if profile not in profiles:
        known = ", ".join(["default", *sorted(profiles)])
        raise ConfigError(f"{path}: no scoring profile {profile!r} (profiles: {known})")
    override = profiles[profile] or {}
    if not isinstance(override, dict):
        raise ConfigError(f"{path}: profile {profile!r} must be a mapping")
    merged = {**data, **override, "profile": profile}
    if isinstance(data.get("stages"), dict) and isinstance(override.get("stages"), dict):
        merged["stages"] = {**data["stages"], **override["stages"]}
    return merged


def load_rules(path: Path, profile: str | None = None) -> ScoringRules:
    """Rules of `profile` (default: the file's top level) from `path`, or ConfigError naming the
    file, the profile, the rule and the field."""
    data = _profile_data(path, read_yaml(path), profile)
    try:
        return ScoringRules.model_validate(data)
    except ValidationError as exc:
        title = "invalid scoring rules" + (f" (profile {profile!r})" if profile not in (None, "default") else "")
        lines = [f"{path}: {title}"]
        for err in exc.errors():
            loc = list(err["loc"])
            where = ".".join(str(p) for p in loc) or "(top level)"
            if len(loc) >= 2 and loc[0] in {"fit", "engagement"} and isinstance(loc[1], int):
                rules = data.get(str(loc[0])) or []
                rule = rules[loc[1]] if loc[1] < len(rules) and isinstance(rules[loc[1]], dict) else {}
                rule_id = rule.get("id", "?")
                where = f"{loc[0]} rule {rule_id!r}" + (f" field {'.'.join(map(str, loc[2:]))}" if loc[2:] else "")
            lines.append(f"  {where}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


def rule_tables(rules: ScoringRules) -> dict[str, pd.DataFrame]:
    """The rows of the scoring and lifecycle settings tables for `rules`."""
    fit_rows, value_rows = [], []
    for priority, rule in enumerate(rules.fit):
        value = rule.value
        vmin = vmax = None
        text = None
        if rule.op == "between":
            vmin, vmax = float(value[0]), float(value[1])  # type: ignore[index,arg-type]
        elif rule.op == "gte":
            vmin = float(value)  # type: ignore[arg-type]
        elif rule.op == "lte":
            vmax = float(value)  # type: ignore[arg-type]
        elif isinstance(value, list):
            value_rows += [{"rule_id": rule.id, "value": str(v).strip().lower()} for v in value]
        elif value is not None:
            text = str(value)
        fit_rows.append(
            {
                "rule_id": rule.id,
                "rule_group": rule.group,
                "priority": priority,
                "field": rule.field,
                "operator": rule.op,
                "value_text": text,
                "value_min": vmin,
                "value_max": vmax,
                "points": rule.points,
                "label_ja": rule.label.ja,
                "label_en": rule.label.en,
            }
        )
    engagement_rows = [
        {
            "rule_id": r.id,
            "event_type": r.event,
            "url_pattern": r.url_pattern,
            "asset_pattern": (r.properties or {}).get("asset"),
            "points": r.points,
            "cap": r.cap,
            "half_life_days": r.half_life_days,
            "window_days": r.window_days,
            "max_per_day": r.max_per_day,
            "hand_raiser": r.hand_raiser,
            "label_ja": r.label.ja,
            "label_en": r.label.en,
        }
        for r in rules.engagement
    ]
    settings = {
        "rules_version": rules.version,
        "score_min": rules.score_range[0],
        "score_max": rules.score_range[1],
        "grade_a": rules.fit_grades["A"],
        "grade_b": rules.fit_grades["B"],
        "grade_c": rules.fit_grades["C"],
        "heating_up_delta": rules.heating_up_delta,
        "top_reasons": rules.top_reasons,
    }
    return {
        "scoring.fit_rules": pd.DataFrame(fit_rows),
        "scoring.fit_rule_values": pd.DataFrame(value_rows, columns=["rule_id", "value"]),
        "scoring.engagement_rules": pd.DataFrame(engagement_rows),
        "scoring.settings": pd.DataFrame([settings]),
        "lifecycle.settings": pd.DataFrame([rules.stages.model_dump()]),
    }


def install_rules(wh: Warehouse, rules: ScoringRules) -> None:
    """Replace the rule tables with `rules`, in one transaction."""
    with wh.transaction():
        for table, frame in rule_tables(rules).items():
            wh.execute(f"delete from {table}")
            wh.load_df(table, frame)


def key_events(
    wh: Warehouse, settings: Settings, as_of: date, *, full: bool = False, rekey: bool = False, leads: bool = False
) -> list[str]:
    """Bring `scoring.keyed_events` up to date for the as-of date: its own batch (again, on a rerun) and
    any batch of `core.events` not keyed yet; with `full`, every batch whose events differ from what
    was keyed (count and checksum: an out-of-band edit of `core.events` or of the keyed events) and no
    other, whose keys would come out the same; with `rekey` too, every batch. The batch ids are read
    first and bound as a list, so PostgreSQL plans the reads of `core.events` with the ids themselves
    (an index scan for one night's batch rather than a scan of every event). With `leads` (the intraday
    step, docs/adr/0019) only the leads the events know get keys, and statistics are left as they are.
    Returns the batches keyed."""
    params = model_params(settings, as_of)
    with wh.unordered_writes(), wh.transaction():
        pending_sql = wh.model_sql("scoring/pending_batches.sql", full=full, rekey=rekey)
        pending = [b for (b,) in wh.fetchall(pending_sql, params)]
        for model in KEYING_MODELS:
            wh.run_model(model, {**params, "pending_batches": pending}, leads=leads)
    return sorted(pending)


def run_scoring_models(wh: Warehouse, params: dict[str, Any], *, full: bool = False, leads: bool = False) -> None:
    """Run SCORING_MODELS for `params`' as-of date, in the caller's transaction, on rules and keyed
    events already installed. After state_rules.sql the days the running state reads are looked up and
    bound as values (`changed_days`, `computed_from`): PostgreSQL then plans the reads of
    scoring.keyed_events with the dates themselves, through its date indexes. With `leads`, only the
    leads of scoring.intraday_leads (the intraday step, docs/adr/0019)."""
    params = dict(params)
    for model in SCORING_MODELS:
        wh.run_model(model, params, full=full, leads=leads)
        if model == "scoring/state_rules.sql":
            params["changed_days"] = [d for (d,) in wh.fetchall(wh.model_sql("scoring/changed_days.sql"), params)]
            params["computed_from"] = wh.scalar(wh.model_sql("scoring/computed_from.sql"), params)


def score(
    wh: Warehouse,
    settings: Settings,
    as_of: date,
    rules_path: Path | None = None,
    *,
    refresh_keys: bool = True,
    full: bool = False,
) -> dict:
    """Load the scoring rules and compute every lead's factors and score for the as-of date (first
    keying new event batches, unless the caller has just keyed every event). Engagement comes from the
    running state, carried from the day before where it can be (docs/adr/0015); with `full`, every
    rule's state is computed from its days, as the rebuild does."""
    rules = load_rules(rules_path or settings.path(settings.scoring_rules))
    params = model_params(settings, as_of)
    with wh.unordered_writes(), wh.transaction():
        install_rules(wh, rules)
        if refresh_keys:
            key_events(wh, settings, as_of)
        run_scoring_models(wh, params, full=full)
    return {
        "rules_version": rules.version,
        "scored": wh.scalar(
            "select count(*) from scoring.lead_scores where as_of_date = cast(:d as date)",
            {"d": as_of.isoformat()},
        ),
    }


def rebuild_scores(
    wh: Warehouse,
    settings: Settings,
    dates: list[date],
    rules_path: Path | None = None,
    *,
    rekey: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """The full rebuild: every batch of `core.events` checked against the keyed events and keyed again
    where its events changed (with `rekey`, every batch keyed again), then every date rescored from all
    of them. `progress(step, done, total)` hears of the keying and of each date scored.

    Gives the same factors and scores as the nightly incremental path (tests/sql/test_scoring_incremental.py).
    """
    first = min(dates) if dates else date.today()
    tell = progress or (lambda step, done, total: None)
    with wh.transaction():
        tell("keying events", 0, len(dates))
        keyed = key_events(wh, settings, first, full=True, rekey=rekey)
        results = []
        for done, d in enumerate(sorted(dates), 1):
            results.append(score(wh, settings, d, rules_path, refresh_keys=False, full=True))
            tell(f"scored {d}", done, len(dates))
        batches = dict(wh.fetchall("select _batch_id, events from scoring.keyed_event_batches"))
    return {
        "dates": len(results),
        "keyed_events": sum(batches.values()),
        "batches": len(batches),
        "batches_keyed_again": len(keyed),
        "events_keyed_again": sum(batches.get(b, 0) for b in keyed),
        "scored": sum(int(r["scored"]) for r in results),
    }
