"""The sample-data generator: file-drop format, determinism, deliberate bad rows and persona realism."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from email_validator import EmailNotValidError, validate_email

from leadflow.demo import generate as generate_module
from leadflow.demo.generate import GenerationSummary, generate

END = date(2026, 11, 22)
TOKYO = ZoneInfo("Asia/Tokyo")
END_OF_WINDOW = datetime(2026, 11, 23, tzinfo=TOKYO)  # first instant after end_date in Asia/Tokyo
# Spelled out rather than imported: the loader and the CRM both depend on this exact order.
COLUMNS = [
    "crm_id", "email", "first_name", "last_name", "company", "industry", "employee_count", "job_title",
    "country", "locale", "timezone", "lead_source", "owner_email", "email_opt_in", "bant_budget",
    "bant_authority", "bant_need", "bant_timeline", "crm_status", "created_at", "updated_at",
]  # fmt: skip
EVENT_KEYS = {"event_id", "crm_id", "email", "event_type", "occurred_at", "url", "properties"}
EVENT_TYPES = {
    "page_view", "pricing_view", "case_study_download", "whitepaper_download", "webinar_registered",
    "webinar_attended", "email_open", "email_click", "contact_form", "quote_request", "demo_request",
}  # fmt: skip
FREE_MAIL = {
    "gmail.com",
    "yahoo.co.jp",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "docomo.ne.jp",
}
HAND_RAISING = {"contact_form", "quote_request", "demo_request"}


def _crm(summary: GenerationSummary) -> pd.DataFrame:
    # Read the way the file-drop loader reads it: all text, empty cell = "", nothing else is null.
    return pd.read_csv(summary.crm_files[0], dtype=str, keep_default_na=False, encoding="utf-8")


def _events(summary: GenerationSummary) -> pd.DataFrame:
    rows = []
    for path in summary.web_files:
        for line in path.read_text(encoding="utf-8").splitlines():
            rows.append({**json.loads(line), "_file_day": path.stem.removeprefix("events_")})
    return pd.DataFrame(rows)


def _resolved(events: pd.DataFrame, crm: pd.DataFrame) -> pd.DataFrame:
    """Events with `lead` = crm_id, or the crm_id of the lead whose normalised address the event carries."""
    by_email = dict(zip(crm["email"].str.strip().str.lower(), crm["crm_id"], strict=True))
    out = events.copy()
    out["lead"] = out["crm_id"].fillna(out["email"].str.strip().str.lower().map(by_email))
    out["at"] = pd.to_datetime(out["occurred_at"], format="ISO8601", utc=True)
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    return generate(tmp_path_factory.mktemp("clean"), leads=400, days=180, seed=7, end_date=END, bad_share=0.0)


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    return generate(tmp_path_factory.mktemp("broken"), leads=300, days=20, seed=7, end_date=END, bad_share=0.1)


def _file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_inputs_give_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate(tmp_path / name, leads=120, days=15, seed=seed, end_date=END, bad_share=0.05)
    a, b, c = (_file_bytes(tmp_path / name) for name in "abc")
    assert a == b
    assert a.keys() == c.keys()  # same file names, different content
    assert a["crm/leads_2026-11-22.csv"] != c["crm/leads_2026-11-22.csv"]
    assert a["web/events_2026-11-20.jsonl"] != c["web/events_2026-11-20.jsonl"]
    assert not [p for p in (tmp_path / "a").rglob("*") if p.name.startswith(".") or p.suffix == ".part"]


def test_spilling_chunks_to_disk_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Large runs generate events per chunk of leads and spill chunks to disk; small runs keep them in memory.
    monkeypatch.setattr(generate_module, "LEAD_CHUNK", 40)
    kept = generate(tmp_path / "kept", leads=150, days=30, seed=5, end_date=END, bad_share=0.0)
    monkeypatch.setattr(generate_module, "SPILL_BYTES", 0)
    spilled = generate(tmp_path / "spilled", leads=150, days=30, seed=5, end_date=END, bad_share=0.0)
    assert _file_bytes(tmp_path / "kept") == _file_bytes(tmp_path / "spilled")
    events = _events(spilled)
    assert events["event_id"].is_unique  # ids stay unique across chunks
    for _, day in events.groupby("_file_day", sort=False):  # each file is in time order across chunks
        assert pd.to_datetime(day["occurred_at"], format="ISO8601", utc=True).is_monotonic_increasing
    assert kept.events == spilled.events == len(events)


def test_crm_export_has_exactly_the_documented_columns_and_one_row_per_lead(clean: GenerationSummary) -> None:
    crm = _crm(clean)
    assert list(crm.columns) == COLUMNS
    assert len(crm) == clean.leads == 400
    assert clean.crm_files == [clean.crm_files[0].parent / "leads_2026-11-22.csv"]
    assert crm["crm_id"].str.fullmatch(r"CRM-\d{6,}").all()


def test_event_files_cover_exactly_the_window_ending_at_end_date(clean: GenerationSummary) -> None:
    # 180 files: 2026-05-27 .. 2026-11-22 inclusive; the generator writes nothing else into web/.
    expected = [f"events_{END - timedelta(days=179 - i)}.jsonl" for i in range(180)]
    assert [p.name for p in clean.web_files] == expected
    assert sorted(p.name for p in clean.web_files[0].parent.iterdir()) == expected
    assert clean.events == sum(len(p.read_text(encoding="utf-8").splitlines()) for p in clean.web_files)


@pytest.mark.parametrize(("leads", "days"), [(0, 3), (1, 1), (6, 2)])
def test_tiny_windows_still_write_one_file_per_day(tmp_path: Path, leads: int, days: int) -> None:
    summary = generate(tmp_path, leads=leads, days=days, seed=1, end_date=END, bad_share=0.0)
    assert len(summary.web_files) == days and all(p.exists() for p in summary.web_files)
    assert summary.web_files[-1].name == "events_2026-11-22.jsonl"
    assert len(_crm(summary)) == leads


def test_every_event_line_is_a_json_object_with_the_required_keys(clean: GenerationSummary) -> None:
    for path in clean.web_files:
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            assert set(event) == EVENT_KEYS
            assert isinstance(event["properties"], dict)
            assert event["crm_id"] is not None or event["email"] is not None


def test_clean_events_are_known_zoned_in_their_file_day_and_not_after_end_date(
    clean: GenerationSummary,
) -> None:
    events = _events(clean)
    assert set(events["event_type"]) == EVENT_TYPES  # every type occurs, and nothing else
    assert events["occurred_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d").all()
    at = pd.to_datetime(events["occurred_at"], format="ISO8601", utc=True)
    assert (at < pd.Timestamp(END_OF_WINDOW)).all()
    assert (at.dt.tz_convert("Asia/Tokyo").dt.strftime("%Y-%m-%d") == events["_file_day"]).all()
    assert events["event_id"].str.fullmatch(r"evt_[0-9a-f]{16}").all() and events["event_id"].is_unique
    assert events["url"].dropna().str.match(r"https://leadflow\.example/").all()


def test_clean_crm_rows_are_valid(clean: GenerationSummary) -> None:
    crm = _crm(clean)
    for email in crm["email"]:
        validate_email(email.strip(), check_deliverability=False)
    assert crm["crm_id"].is_unique
    assert crm["email"].str.strip().str.lower().is_unique
    text = crm.drop(columns=["created_at", "updated_at"]).to_numpy().ravel()
    assert not [v for v in text if "<" in v or "{{" in v or "\n" in v or "\r" in v]
    created = pd.to_datetime(crm["created_at"], format="ISO8601", utc=True)
    updated = pd.to_datetime(crm["updated_at"], format="ISO8601", utc=True)
    window_start = pd.Timestamp(END_OF_WINDOW - timedelta(days=180))
    assert (created >= window_start).all() and (updated >= created).all()
    assert (updated < pd.Timestamp(END_OF_WINDOW)).all()


def test_some_crm_addresses_need_normalising(clean: GenerationSummary) -> None:
    # The loader must strip and lower-case addresses; the sample data has to exercise that.
    email = _crm(clean)["email"]
    assert (email != email.str.strip()).any()
    assert (email.str.strip() != email.str.strip().str.lower()).any()


def test_timestamps_carry_the_leads_own_zone_offset(clean: GenerationSummary) -> None:
    crm = _crm(clean)
    zone_of = dict(zip(crm["crm_id"], crm["timezone"], strict=True))
    events = _resolved(_events(clean), crm)
    stamped = [*zip(crm["created_at"], crm["timezone"], strict=True)]
    stamped += [(at, zone_of[lead]) for at, lead in zip(events["occurred_at"], events["lead"], strict=True)]
    for text, zone in stamped:
        local = datetime.fromisoformat(text)
        assert local.utcoffset() == local.astimezone(ZoneInfo(zone)).utcoffset(), (text, zone)


def test_japanese_leads_look_japanese_and_english_leads_do_not(clean: GenerationSummary) -> None:
    crm = _crm(clean)
    ja, en = crm[crm["locale"] == "ja"], crm[crm["locale"] == "en"]
    assert 0.5 < len(ja) / len(crm) < 0.7
    assert (ja["country"] == "JP").all() and (ja["timezone"] == "Asia/Tokyo").all()
    assert ja["last_name"].str.fullmatch(r"[\u3005\u3040-\u30ff\u4e00-\u9fff]+").all()  # kana, kanji, 々
    assert ja["company"].str.contains("株式会社").any()
    assert set(en["country"]) == {"US", "GB", "SG", "AU"}
    assert en["last_name"].str.fullmatch(r"[A-Za-z' ]+").all()


def test_crm_fields_use_the_documented_values_in_realistic_proportions(clean: GenerationSummary) -> None:
    crm = _crm(clean)
    assert set(crm["industry"]) <= {
        "software", "manufacturing", "retail", "finance", "healthcare", "education", "logistics", "consulting",
        "media", "government",
    }  # fmt: skip
    assert set(crm["lead_source"]) == {"seo", "ads", "webinar", "exhibition", "referral"}
    assert 2 <= crm["owner_email"].nunique() <= 6 and crm["owner_email"].str.endswith("@leadflow.example").all()
    assert 0.75 < (crm["email_opt_in"] == "true").mean() < 0.95 and set(crm["email_opt_in"]) == {"true", "false"}
    status = crm["crm_status"].value_counts(normalize=True)
    assert set(status.index) <= {"new", "working", "nurturing", "qualified", "customer", "disqualified"}
    assert status["new"] + status["nurturing"] > 0.6
    assert crm["employee_count"].str.fullmatch(r"\d*").all()
    bant = crm[["bant_budget", "bant_authority", "bant_need", "bant_timeline"]]
    assert set(bant.to_numpy().ravel()) == {"", "true", "false"}
    assert (bant == "").all(axis=1).mean() > 0.8  # mostly unknown
    confirmed = (bant == "true").sum(axis=1) >= 3  # BANT confirmed: only heating enterprise leads
    assert confirmed.any() and (pd.to_numeric(crm.loc[confirmed, "employee_count"]) >= 1000).all()


def test_students_engage_less_than_enterprise_decision_makers(clean: GenerationSummary) -> None:
    crm = _crm(clean)
    per_lead = _resolved(_events(clean), crm).groupby("lead").size()
    events = crm["crm_id"].map(per_lead).fillna(0)
    students = crm["job_title"].isin(["学生", "Student"])
    enterprise = pd.to_numeric(crm["employee_count"], errors="coerce") >= 1000
    assert students.sum() >= 10 and enterprise.sum() >= 10
    assert events[students].mean() * 3 < events[enterprise].mean()
    assert (crm.loc[students, "employee_count"] == "").all()  # students leave head-count empty
    domain = crm["email"].str.strip().str.lower().str.split("@").str[-1]
    free_mail = domain.isin(FREE_MAIL)
    assert free_mail[students].all() and not free_mail[enterprise].any()


def test_some_leads_raise_their_hand_in_the_last_week_and_some_heat_up(clean: GenerationSummary) -> None:
    events = _resolved(_events(clean), _crm(clean))
    last_week = events[events["at"] >= pd.Timestamp(END_OF_WINDOW - timedelta(days=7))]
    assert last_week.loc[last_week["event_type"].isin(HAND_RAISING), "lead"].nunique() >= 5
    # Heating up: pricing views are denser in the last three weeks than on average.
    pricing = events[events["event_type"] == "pricing_view"]
    recent = (pricing["at"] >= pd.Timestamp(END_OF_WINDOW - timedelta(days=21))).mean()
    assert recent > 2 * 21 / 180


def test_some_leads_have_fallen_silent_for_ninety_days(clean: GenerationSummary) -> None:
    events = _resolved(_events(clean), _crm(clean))
    last_seen = events.groupby("lead")["at"].max()
    assert (last_seen < pd.Timestamp(END_OF_WINDOW - timedelta(days=90))).sum() >= 5


def test_follow_ups_never_precede_what_they_follow(clean: GenerationSummary) -> None:
    events = _resolved(_events(clean), _crm(clean))
    events["item"] = [p.get("webinar_id") or p.get("campaign") for p in events["properties"]]
    for first, then in (("webinar_registered", "webinar_attended"), ("email_open", "email_click")):
        started = events[events["event_type"] == first].groupby(["lead", "item"])["at"].min()
        followed = events[events["event_type"] == then].groupby(["lead", "item"])["at"].min()
        assert len(followed) > 0
        assert (started.reindex(followed.index) < followed).all(), then  # NaN (no start) also fails
    attended = (events["event_type"] == "webinar_attended").sum()
    assert 0.3 < attended / (events["event_type"] == "webinar_registered").sum() < 1.0


def test_activity_is_mostly_in_local_business_hours_on_weekdays(clean: GenerationSummary) -> None:
    crm = _crm(clean)
    workers = set(crm.loc[~crm["job_title"].isin(["学生", "Student"]), "crm_id"])
    events = _resolved(_events(clean), crm)
    local = [
        datetime.fromisoformat(t)
        for t, lead in zip(events["occurred_at"], events["lead"], strict=True)
        if lead in workers
    ]
    in_hours = [t.weekday() < 5 and 8 <= t.hour < 19 for t in local]
    assert sum(in_hours) / len(in_hours) > 0.8


def test_some_events_carry_only_an_address_sometimes_cased_differently(clean: GenerationSummary) -> None:
    events = _events(clean)
    email_only = events[events["crm_id"].isna()]
    assert 0.05 < len(email_only) / len(events) < 0.15
    assert (email_only["email"] != email_only["email"].str.lower()).any()
    assert email_only["email"].notna().all()


def test_bad_share_breaks_crm_rows_in_every_documented_way(broken: GenerationSummary) -> None:
    crm = _crm(broken)
    assert len(crm) == 300
    email = crm["email"]
    assert (email.str.count("@") > 1).any()
    assert (email == "N/A").any() and (email == "").any()
    duplicated = crm[crm["crm_id"].duplicated(keep=False)]
    assert len(duplicated) >= 2 and duplicated.groupby("crm_id")["email"].nunique().eq(2).all()
    names = crm["first_name"] + crm["last_name"]
    assert names.str.contains("<script>alert(1)</script>", regex=False).any()
    assert names.str.contains("{{7*7}}", regex=False).any()
    assert crm["company"].str.contains("\n").any()  # survived CSV quoting as one field


def test_bad_share_is_a_fraction_of_crm_rows(broken: GenerationSummary) -> None:
    crm = _crm(broken)
    bad_email = crm["email"].map(_invalid_email)
    tampered = (
        crm["first_name"].str.contains("<") | crm["last_name"].str.contains("{{") | crm["company"].str.contains("\n")
    )
    duplicate = crm["crm_id"].duplicated()
    # 10 % of 300 rows = 30 broken rows, one kind each.
    assert (bad_email | tampered | duplicate).sum() == 30


def _invalid_email(text: str) -> bool:
    try:
        validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError:
        return True
    return False


def test_bad_share_breaks_events_in_every_documented_way(broken: GenerationSummary) -> None:
    lines = [json.loads(line) for p in broken.web_files for line in p.read_text(encoding="utf-8").splitlines()]
    assert any(e.get("event_type") not in EVENT_TYPES for e in lines)
    assert any("event_id" not in e for e in lines)
    stamps = [e["occurred_at"] for e in lines]
    assert any(datetime.fromisoformat(s).tzinfo is None for s in stamps)
    # A skewed clock stamps an event more than a night after its file's day (beyond the window of the
    # next night, which holds events up to its own cutoff): every file may have some, none of its own.
    assert broken.web_files[-1].name == "events_2026-11-22.jsonl"
    skewed = []
    for path in broken.web_files:
        day = date.fromisoformat(path.stem.removeprefix("events_"))
        next_cutoff = datetime.combine(day + timedelta(days=2), datetime.min.time(), tzinfo=TOKYO)
        for line in path.read_text(encoding="utf-8").splitlines():
            at = datetime.fromisoformat(json.loads(line)["occurred_at"])
            if at.tzinfo is not None and at.astimezone(TOKYO).date() != day:
                assert at >= next_cutoff, (path.name, line)
                skewed.append(day)
    assert len(set(skewed)) > 3 and len(skewed) > 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"days": 0}, "days"), ({"leads": -1}, "leads"), ({"bad_share": 1.5}, "bad_share"), ({"activity": 0}, "activity")],
)
def test_rejects_impossible_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    arguments = {"leads": 5, "days": 3, "seed": 1, "end_date": END, "bad_share": 0.0} | kwargs
    with pytest.raises(ValueError, match=message):
        generate(tmp_path, **arguments)


def test_activity_scales_the_steady_event_rate(tmp_path: Path) -> None:
    # activity multiplies each lead's steady rate; the heating-up and hand-raising bursts stay as they
    # are, so 2.5 gives a little under 2.5 times the events (the bench asks for 50/lead this way)
    base = generate(tmp_path / "a", leads=1500, days=180, seed=3, end_date=END, bad_share=0.0)
    busy = generate(tmp_path / "b", leads=1500, days=180, seed=3, end_date=END, bad_share=0.0, activity=2.5)
    assert busy.leads == base.leads
    assert 2.2 < busy.events / base.events < 2.5
    assert 17 < base.events / base.leads < 24  # about generate_module.BASE_EVENTS_PER_LEAD
    assert base.events / base.leads == pytest.approx(generate_module.BASE_EVENTS_PER_LEAD, rel=0.15)


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London"])
def test_files_cut_the_days_of_the_configured_time_zone(tmp_path: Path, zone: str) -> None:
    # a window across the end of daylight saving time (2026-11-01 in New York, 10-25 in London)
    summary = generate(
        tmp_path,
        leads=150,
        days=30,
        seed=4,
        end_date=END,
        bad_share=0.0,
        timezone=zone,
        daily_from=END - timedelta(days=25),
    )
    local = ZoneInfo(zone)
    events = _events(summary)
    at = pd.to_datetime(events["occurred_at"], format="ISO8601", utc=True)
    assert (at.dt.tz_convert(zone).dt.strftime("%Y-%m-%d") == events["_file_day"]).all()
    for path in summary.crm_files:
        day = date.fromisoformat(path.stem.removeprefix("leads_"))
        rows = pd.read_csv(path, dtype=str, keep_default_na=False)
        updated = pd.to_datetime(rows["updated_at"], format="ISO8601", utc=True)
        assert (
            updated < pd.Timestamp(datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=local))
        ).all()


def test_an_unknown_time_zone_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone must be an IANA time zone such as Asia/Tokyo, got 'JST'"):
        generate(tmp_path, leads=5, days=3, seed=1, end_date=END, timezone="JST")


def test_export_every_keeps_one_crm_export_per_period_back_from_the_end(tmp_path: Path) -> None:
    """Nights a week apart each read one export (several in one batch are superseded duplicates)."""
    summary = generate(
        tmp_path, leads=60, days=40, seed=2, end_date=END, daily_from=END - timedelta(days=30), export_every=7
    )
    expected = [f"leads_{(END - timedelta(days=d)).isoformat()}.csv" for d in (28, 21, 14, 7, 0)]
    assert [p.name for p in summary.crm_files] == expected
    with pytest.raises(ValueError, match="export_every must be at least 1, got 0"):
        generate(tmp_path, leads=5, days=3, seed=1, end_date=END, export_every=0)
