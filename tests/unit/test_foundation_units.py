"""Pure functions of the foundation: bind translation, statement splitting, send times, rules, config."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from leadflow import warehouse
from leadflow.config import ConfigError, load_settings
from leadflow.nurture.plan import send_time
from leadflow.nurture.windows import SendWindow, is_business_day
from leadflow.scoring import load_rules
from leadflow.sources.files import due_files, file_date
from leadflow.warehouse import WarehouseMemoryError, bind, connect, size_bytes, split_statements

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        ("select :a, x::int", "duckdb", "select $1, x::int"),  # a cast is not a bind
        ("select :a, x::int", "postgres", "select %(a)s, x::int"),
        # binds inside string literals stay text; % is doubled for psycopg
        ("select ':a' like '%x%', :b", "postgres", "select ':a' like '%%x%%', %(b)s"),
        ("select ':a', :b", "duckdb", "select ':a', $1"),
    ],
)
def test_bind_rewrites_only_real_parameters(sql, dialect, expected):
    assert bind(sql, dialect) == expected


def test_split_statements_ignores_comments_and_quoted_semicolons():
    script = "-- a lead's note; not a split\nselect 'a;b';\n\ninsert into t values (1); -- done\n-- the end\n"
    assert split_statements(script) == [
        "-- a lead's note; not a split\nselect 'a;b'",
        "insert into t values (1); -- done\n-- the end",  # sqlparse keeps comments with a statement
    ]


@pytest.mark.parametrize("fetch", ["fetchall", "scalar", "fetch_df", "fetch_chunks", "execute"])
def test_duckdb_out_of_memory_names_the_setting_to_raise(tmp_path, fetch):
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as wh:
        wh.execute("set memory_limit = '8MB'")  # string_agg cannot spill: 3M values need more
        sql = "select string_agg(cast(range as varchar), ',') from range(3000000)"
        with pytest.raises(WarehouseMemoryError, match=r"in `select string_agg.*`: raise LEADFLOW_DUCKDB_MEMORY_LIMIT"):
            result = getattr(wh, fetch)(sql)
            if fetch == "fetch_chunks":
                list(result)
        assert wh.scalar("select 42") == 42  # the connection stays usable


@pytest.mark.parametrize(
    ("size", "expected"),
    [("768MB", 768e6), ("2 GiB", 2 * 1024**3), ("0.5gb", 5e8), ("100B", 100.0), ("80%", None), ("lots", None)],
)
def test_memory_sizes_read_as_duckdb_reads_them(size, expected):
    assert size_bytes(size) == expected


def duckdb_cap(wh) -> float | None:
    """The memory cap DuckDB runs under right now, in bytes."""
    return size_bytes(wh.scalar("select current_setting('memory_limit')"))


def test_streaming_lowers_the_duckdb_cap_inside_a_transaction_and_restores_it(tmp_path):
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as wh:
        cap = duckdb_cap(wh)
        with wh.transaction(), pytest.raises(RuntimeError, match="boom"), wh.streaming_memory():
            assert duckdb_cap(wh) < cap / 2
            raise RuntimeError("boom")
        assert duckdb_cap(wh) == cap  # back after an error too


def test_streaming_never_raises_a_lower_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(warehouse, "DUCKDB_MEMORY_LIMIT", "128MB")
    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as wh:
        cap = duckdb_cap(wh)
        with wh.streaming_memory():
            assert duckdb_cap(wh) == cap


def test_unordered_writes_hold_inside_the_block_only_even_nested_or_failing(tmp_path):
    def ordered(wh) -> bool:
        return bool(wh.scalar("select current_setting('preserve_insertion_order')"))

    with connect(f"duckdb://{tmp_path / 'w.duckdb'}") as wh:
        assert ordered(wh)
        with wh.unordered_writes(), wh.transaction():
            assert not ordered(wh)
            with wh.unordered_writes():  # a scoring run inside a rebuild
                assert not ordered(wh)
            assert not ordered(wh)  # the inner block does not end the outer one's setting
        assert ordered(wh)
        with pytest.raises(RuntimeError, match="boom"), wh.unordered_writes():
            raise RuntimeError("boom")
        assert ordered(wh)


@pytest.mark.parametrize(
    ("not_before", "tz", "country", "expected_local"),
    [
        # Monday 2026-11-23 00:00 JST is 勤労感謝の日 (a JP holiday): next slot Tuesday 10:00
        (datetime(2026, 11, 22, 15, 0, tzinfo=UTC), "Asia/Tokyo", "JP", "2026-11-24T10:00:00+09:00"),
        # Saturday in New York: Monday 10:00
        (datetime(2026, 11, 21, 15, 0, tzinfo=UTC), "America/New_York", "US", "2026-11-23T10:00:00-05:00"),
        # 08:00 on a London weekday: same day 10:00
        (datetime(2026, 11, 25, 8, 0, tzinfo=UTC), "Europe/London", "GB", "2026-11-25T10:00:00+00:00"),
        # 11:00 on a weekday is past the send hour: next day
        (datetime(2026, 11, 25, 2, 0, tzinfo=UTC), "Asia/Tokyo", "JP", "2026-11-26T10:00:00+09:00"),
    ],
)
def test_send_time_is_the_next_business_morning_in_the_leads_zone(not_before, tz, country, expected_local):
    got = send_time(not_before, tz, country, SendWindow(9, 18, 10, ("JP", "US")))
    assert got == datetime.fromisoformat(expected_local)


def test_unknown_country_has_weekends_but_no_holidays():
    window = SendWindow(9, 18, 10, ("JP", "US"))
    assert is_business_day(date(2026, 11, 23), "ZZ", window) is True  # a Monday; no calendar for ZZ
    assert is_business_day(date(2026, 11, 23), "JP", window) is False  # 勤労感謝の日
    assert is_business_day(date(2026, 11, 22), None, window) is False  # Sunday


def test_default_rules_follow_the_domain_articles():
    rules = load_rules(ROOT / "config" / "scoring.yml")
    points = {r.id: r.points for r in [*rules.fit, *rules.engagement]}
    # 決裁権あり +20, 企業規模100人以上 +20, 価格ページ閲覧 +15, 導入事例DL +10, ウェビナー参加 +10
    assert (points["decision_maker"], points["company_100_plus"]) == (20, 20)
    assert (points["pricing_view"], points["case_study_download"], points["webinar_attended"]) == (15, 10, 10)
    assert len(rules.version) == 12


def test_rules_errors_name_the_file_rule_and_field(tmp_path):
    data = yaml.safe_load((ROOT / "config" / "scoring.yml").read_text())
    data["fit"][0]["op"] = "between"  # needs [low, high]
    data["engagement"][0]["half_life_days"] = 0
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    message = str(err.value)
    assert str(path) in message
    assert "fit rule 'decision_maker'" in message and "needs [low, high]" in message
    assert "engagement rule 'pricing_view' field half_life_days" in message


def test_settings_reject_unknown_keys_and_time_zones(tmp_path):
    data = yaml.safe_load((ROOT / "config" / "leadflow.yml").read_text())
    data["timezone"] = "Mars/Olympus"
    data["mailer"]["from_emial"] = "typo@example.com"
    path = tmp_path / "leadflow.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "timezone: Value error, unknown IANA time zone 'Mars/Olympus'" in str(err.value)
    assert "mailer.from_emial: Extra inputs are not permitted" in str(err.value)


def test_dated_files_wait_for_their_run(tmp_path):
    for name in (
        "events_2026-11-21.jsonl",
        "events_2026-11-22.jsonl",
        "events_2026-11-23.jsonl",
        "extra.jsonl",
    ):
        (tmp_path / name).write_text("")
    assert file_date(tmp_path / "events_2026-11-21.jsonl") == date(2026, 11, 21)
    due = [p.name for p in due_files(tmp_path, "*.jsonl", date(2026, 11, 22))]
    assert due == ["events_2026-11-21.jsonl", "events_2026-11-22.jsonl", "extra.jsonl"]


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        # the scheduled run at 02:00 JST on 2026-11-23 scores the previous local day
        ({"data_interval_end": "2026-11-22T17:00:00+00:00"}, date(2026, 11, 22)),
        # New Year: 2026-01-01 02:00 JST (still 2025 in UTC) scores 2025-12-31
        ({"data_interval_end": "2025-12-31T17:00:00+00:00"}, date(2025, 12, 31)),
        # an explicit as_of_date (reruns, `make dag`) wins over the interval
        ({"data_interval_end": "2026-11-22T17:00:00+00:00", "params": {"as_of_date": "2026-10-01"}}, date(2026, 10, 1)),
    ],
)
def test_as_of_date_is_the_local_day_before_the_run(context, expected):
    import pendulum

    from leadflow.runtime import as_of_date

    settings = load_settings(ROOT / "config" / "leadflow.yml")
    ctx = {**context, "data_interval_end": pendulum.parse(context["data_interval_end"])}
    assert as_of_date(ctx, settings) == expected


def test_reruns_carry_no_deadline_alert(monkeypatch):
    from leadflow.crm.deadline import crm_deadline

    settings = load_settings(ROOT / "config" / "leadflow.yml")
    assert crm_deadline(settings) is not None  # scheduled runs are alerted at 07:00
    monkeypatch.setenv("LEADFLOW_DEADLINE_ALERTS", "off")
    assert crm_deadline(settings) is None  # `make dag` reruns of past dates are not
