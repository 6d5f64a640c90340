"""config/scoring.yml as data: validation per operator and rule kind, profiles, versions, rule tables."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leadflow.config import ConfigError
from leadflow.scoring import load_rules, profile_names, rule_tables

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "scoring.yml"


def shipped() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "scoring.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def fit(op: str, value: object = None, field: str = "job_title") -> dict:
    rule = {"id": "r", "group": "g", "field": field, "op": op, "points": 5, "label": {"ja": "r", "en": "r"}}
    return rule if value is None else {**rule, "value": value}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (fit("in", []), "needs a non-empty list"),
        (fit("not_in", "software"), "needs a non-empty list"),
        (fit("email_domain_in", None, "email"), "needs a non-empty list"),
        (fit("between", [1], "employee_count"), "needs [low, high]"),
        (fit("gte", "many", "employee_count"), "needs a number"),
        (fit("lte", None, "employee_count"), "needs a number"),
        (fit("eq", 3), "needs a text value"),
        (fit("contains", None), "needs a text value"),
        (fit("regex", "(unclosed"), "not a valid regular expression"),
        (fit("is_null", "x"), "takes no value"),
        (fit("like", "x"), "Input should be"),  # unknown operator
        ({**fit("eq", "x"), "field": "salary"}, "Input should be"),  # unknown field
    ],
)
def test_invalid_fit_rules_name_the_file_the_rule_and_the_problem(tmp_path, rule, message):
    data = shipped()
    data["fit"] = [rule]
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    text = str(err.value)
    assert str(path) in text and "fit rule 'r'" in text and message in text


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"cap": 0}, "field cap"),
        ({"half_life_days": -1}, "field half_life_days"),
        ({"window_days": 0}, "field window_days"),
        ({"max_per_day": 0}, "field max_per_day"),
        ({"event": "tweet"}, "field event"),
        ({"url_pattern": "([bad"}, "not a valid regular expression"),
        ({"properties": {"asset": "*bad"}}, "not a valid regular expression"),
        ({"properties": {"campaign": "x"}}, "field properties.campaign"),  # core.events keeps only `asset`
    ],
)
def test_invalid_engagement_rules_name_the_rule_and_field(tmp_path, change, where):
    data = shipped()
    data["engagement"][0].update(change)
    with pytest.raises(ConfigError) as err:
        load_rules(write(tmp_path, data))
    assert "engagement rule 'pricing_view'" in str(err.value) and where in str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"score_range": [100, 0]}, "low below high"),
        ({"fit_grades": {"A": 10, "B": 25, "C": 5}}, "must not increase"),
        ({"stages": {"warm_threshold": 80, "hot_threshold": 75}}, "warm_threshold must be below"),
    ],
)
def test_invalid_ranges_and_thresholds(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_rules(write(tmp_path, {**shipped(), **change}))


def test_the_clamp_factors_rule_id_is_reserved(tmp_path):
    data = shipped()
    data["engagement"][0]["id"] = "score_range"
    with pytest.raises(ConfigError, match="'score_range' is reserved for the clamp"):
        load_rules(write(tmp_path, data))


def test_valid_operators_and_rule_kinds_load(tmp_path):
    data = shipped()
    data["fit"] += [
        {**fit("is_null"), "id": "no_title"},
        {**fit("not_in", ["retail"], "industry"), "id": "not_retail", "group": "x"},
        {**fit("lte", 5, "employee_count"), "id": "tiny", "group": "y", "points": -5},
        {**fit("contains", "holdings", "company"), "id": "holding", "group": "z"},
    ]
    data["engagement"].append(
        {
            "id": "roi_download",
            "event": "whitepaper_download",
            "properties": {"asset": "^roi-"},
            "url_pattern": "/resources/",
            "points": 12,
            "cap": 24,
            "half_life_days": 30,
            "window_days": 90,
            "label": {"ja": "ROI資料", "en": "ROI guide"},
        }
    )
    rules = load_rules(write(tmp_path, data))
    tables = rule_tables(rules)
    engagement = tables["scoring.engagement_rules"].set_index("rule_id")
    assert engagement.loc["roi_download", "asset_pattern"] == "^roi-"
    assert engagement.loc["roi_download", "url_pattern"] == "/resources/"
    values = tables["scoring.fit_rule_values"]
    assert values[values["rule_id"] == "not_retail"]["value"].tolist() == ["retail"]
    fit_rows = tables["scoring.fit_rules"].set_index("rule_id")
    assert fit_rows.loc["tiny", "value_max"] == 5 and fit_rows.loc["no_title", "operator"] == "is_null"


def test_version_changes_with_any_rule_and_only_then(tmp_path):
    base = load_rules(SHIPPED)
    assert load_rules(SHIPPED).version == base.version
    data = shipped()
    data["engagement"][0]["points"] = 16
    assert load_rules(write(tmp_path, data)).version != base.version


def test_profiles_override_the_default_and_have_their_own_version(tmp_path):
    data = shipped()
    data["profiles"] = {
        "enterprise": {
            "stages": {"hot_threshold": 80},  # merged key by key with the default stages
            "fit": [fit("gte", 1000, "employee_count")],  # replaces the default fit rules
        }
    }
    path = write(tmp_path, data)
    default, enterprise = load_rules(path), load_rules(path, "enterprise")
    assert profile_names(path) == ["default", "enterprise"]
    # the default profile is the file's top level, unchanged by the profiles below it
    assert default.version == load_rules(SHIPPED).version and default.profile == "default"
    assert enterprise.profile == "enterprise" and enterprise.version != default.version
    assert (enterprise.stages.hot_threshold, enterprise.stages.warm_threshold) == (80, 40)
    assert [r.id for r in enterprise.fit] == ["r"] and enterprise.engagement == default.engagement
    with pytest.raises(ConfigError, match="no scoring profile 'smb'"):
        load_rules(path, "smb")


def test_profile_errors_name_the_profile(tmp_path):
    data = shipped()
    data["profiles"] = {"enterprise": {"fit": [fit("between", [1], "employee_count")]}}
    with pytest.raises(ConfigError) as err:
        load_rules(write(tmp_path, data), "enterprise")
    assert "profile 'enterprise'" in str(err.value) and "fit rule 'r'" in str(err.value)
