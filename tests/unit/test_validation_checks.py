"""The run-level raw gates on one-row aggregates: each check passes and fails with its exact message,
and the limits come from ValidationSettings (defaults until config.py carries them)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadflow.validation import checks
from leadflow.validation.checks import RunAnomaly
from leadflow.validation.settings import ValidationSettings, of

TOKYO = ZoneInfo("Asia/Tokyo")
CUTOFF = datetime(2024, 6, 1, tzinfo=TOKYO)  # the end of as-of day 2024-05-31
CFG = ValidationSettings()


def crm_gate(
    rows: int,
    newest: datetime | None,
    previous: tuple[str, int] | None,
    approved: int | None = None,
    approved_drop: int | None = None,
):
    params = checks.raw_crm_parameters(
        CFG,
        batch="2024-05-31",
        rows=rows,
        newest=newest,
        cutoff=CUTOFF,
        previous=previous,
        approved=approved,
        approved_drop=approved_drop,
    )
    frame = checks.raw_crm_frame(rows, newest)
    return checks.check_frame(checks.RAW_CRM, frame, params, where="batch 2024-05-31")


@pytest.mark.parametrize(
    ("rows", "previous"),
    [
        (100, None),  # a first batch has nothing to compare with
        (1000, ("2024-05-30", 100)),  # exactly 10× the previous batch is still allowed
        (50, ("2024-05-30", 100)),  # half the previous records is still allowed
    ],
)
def test_raw_crm_volume_passes(rows, previous) -> None:
    results = crm_gate(rows, datetime(2024, 5, 31, 12, tzinfo=TOKYO), previous)
    assert [r["check"] for r in results] == ["volume_not_empty", "volume_spike", "volume_drop", "freshness"]
    assert all(r["success"] for r in results)


def test_an_empty_crm_batch_fails_the_run() -> None:
    with pytest.raises(RunAnomaly) as failure:
        crm_gate(0, None, None)
    assert str(failure.value) == (
        "raw_crm_run: volume_not_empty: batch 2024-05-31 has 0 rows; expected at least 1 — check that the CRM "
        "export for 2024-05-31 landed (sources.crm), then rerun (batch 2024-05-31)"
    )
    assert [r["success"] for r in failure.value.result] == [False, True, True, True]
    # after a batch of 100, an empty one is also a drop below half: both are said
    with pytest.raises(RunAnomaly) as failure:
        crm_gate(0, None, ("2024-05-30", 100))
    assert str(failure.value).startswith("raw_crm_run: 2 checks failed (batch 2024-05-31):\n  - volume_not_empty")
    assert [r["success"] for r in failure.value.result] == [False, True, False, True]


def test_a_ten_fold_spike_fails_the_run_and_says_how_to_approve_it() -> None:
    # 1,001 rows after 100: more than 10× (limit 1,000)
    with pytest.raises(RunAnomaly) as failure:
        crm_gate(1001, datetime(2024, 5, 31, 12, tzinfo=TOKYO), ("2024-05-30", 100))
    assert str(failure.value) == (
        "raw_crm_run: volume_spike: 1,001 rows, more than 10× the 100 rows of batch 2024-05-30 (limit 1,000, "
        "validation.volume_spike_factor); if the export is right, approve with `leadflow validation approve "
        "--date 2024-05-31 --check raw_crm_run.volume_spike --up-to 1001` and rerun (batch 2024-05-31)"
    )


def test_a_crm_shrunk_below_half_fails_the_run_and_says_how_to_approve_it() -> None:
    # 49 records after 100: a truncated export would mark 51 leads deleted at the next reconciliation
    with pytest.raises(RunAnomaly) as failure:
        crm_gate(49, datetime(2024, 5, 31, 12, tzinfo=TOKYO), ("2024-05-30", 100))
    assert str(failure.value) == (
        "raw_crm_run: volume_drop: 49 records, fewer than 50% of the 100 of batch 2024-05-30 (at least 50, "
        "validation.volume_drop_share): a truncated export would mark the records it lacks deleted at the next "
        "reconciliation; if the CRM really shrank, approve with `leadflow validation approve --date 2024-05-31 "
        "--check raw_crm_run.volume_drop --up-to 49` and rerun (batch 2024-05-31)"
    )
    approved = crm_gate(49, datetime(2024, 5, 31, 12, tzinfo=TOKYO), ("2024-05-30", 100), approved_drop=49)
    assert all(r["success"] for r in approved)


def test_an_approved_spike_passes() -> None:
    results = crm_gate(1001, datetime(2024, 5, 31, 12, tzinfo=TOKYO), ("2024-05-30", 100), approved=1001)
    assert all(r["success"] for r in results)


def test_freshness_passes_at_the_limit_and_fails_past_it() -> None:
    # 72 h before the cutoff 2024-06-01T00:00+09:00 is 2024-05-29T00:00+09:00: still fresh
    assert all(r["success"] for r in crm_gate(10, datetime(2024, 5, 29, tzinfo=TOKYO), None))
    with pytest.raises(RunAnomaly) as failure:
        crm_gate(10, datetime(2024, 5, 28, 23, 59, tzinfo=TOKYO), None)
    assert str(failure.value) == (
        "raw_crm_run: freshness: newest updated_at is 2024-05-28T23:59:00+09:00, older than 72 h before the cutoff "
        "2024-06-01T00:00:00+09:00 (expected at or after 2024-05-29T00:00:00+09:00, "
        "validation.freshness_max_age_hours); the CRM export looks stale (batch 2024-05-31)"
    )


def test_two_failures_are_listed_together() -> None:
    with pytest.raises(RunAnomaly) as failure:
        crm_gate(2000, datetime(2024, 5, 1, tzinfo=TOKYO), ("2024-05-30", 100))
    message = str(failure.value)
    assert message.startswith("raw_crm_run: 2 checks failed (batch 2024-05-31):\n  - volume_spike: 2,000 rows")
    assert "\n  - freshness: newest updated_at is 2024-05-01T00:00:00+09:00" in message


def events_gate(events: int, resolved: int, floor: float = 0.8):
    cfg = ValidationSettings(min_event_resolution_share=floor)
    params = checks.resolution_parameters(cfg, events=events, resolved=resolved)
    return checks.check_frame(checks.RAW_EVENTS, checks.resolution_frame(params), params, where="batch 2024-05-31")


@pytest.mark.parametrize(
    ("events", "resolved"),
    [
        (10, 8),  # exactly the 80 % floor
        (10, 10),
        (0, 0),  # a day without events has nothing to resolve
    ],
)
def test_event_resolution_passes(events, resolved) -> None:
    assert all(r["success"] for r in events_gate(events, resolved))


def test_event_resolution_below_the_floor_fails_the_run() -> None:
    with pytest.raises(RunAnomaly) as failure:
        events_gate(1000, 799)
    assert str(failure.value) == (
        "raw_events_run: lead_resolution: 799 of 1,000 valid events (79.9 %) resolve to a known lead by crm_id or "
        "email; expected at least 80.0 % (validation.min_event_resolution_share); check that the CRM batch landed "
        "and both sources use the same ids (batch 2024-05-31)"
    )


def test_settings_fall_back_to_defaults_for_fields_config_py_lacks() -> None:
    # today's ValidationConfig has only max_bad_share: it is kept, everything else is a default
    legacy = SimpleNamespace(validation=SimpleNamespace(model_dump=lambda: {"max_bad_share": 0.2}))
    cfg = of(legacy)
    assert cfg.max_bad_share == 0.2 and cfg.volume_spike_factor == 10 and cfg.max_new_hot == 200
    assert of(SimpleNamespace()) == ValidationSettings()
    wired = ValidationSettings(max_new_hot=5)
    assert of(SimpleNamespace(validation=wired)) is wired


def test_run_level_suites_are_built_once_and_use_only_declared_parameters() -> None:
    assert checks.suite(checks.SCORES) is checks.suite(checks.SCORES)
    assert checks._PARAMETER_NAMES[checks.TRANSITIONS] == {"max_new_hot"}
    assert checks._PARAMETER_NAMES[checks.SCORES] == {"leads", "score_min", "score_max", "mean_min", "mean_max"}


def test_data_docs_are_built_locally_for_every_suite(tmp_path) -> None:
    import shutil
    from pathlib import Path

    from leadflow.validation.cli import build_data_docs

    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "gx", tmp_path / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    index = build_data_docs(tmp_path / "gx")
    assert index == tmp_path / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    pages = {p.stem for p in (index.parent / "expectations").glob("*.html")}
    assert pages == {"raw_crm", "raw_events", "raw_crm_run", "raw_events_run", "scores", "transitions"}
    with pytest.raises(FileNotFoundError, match=r"not a GX file context"):
        build_data_docs(tmp_path)


def test_the_approve_subcommand_records_an_approval(tmp_path, capsys) -> None:
    from leadflow.pipeline import create_schemas
    from leadflow.validation import gates
    from leadflow.validation.cli import main
    from leadflow.warehouse import connect

    uri = f"duckdb://{tmp_path / 'w.duckdb'}"
    with connect(uri) as wh:
        create_schemas(wh)
    argv = ["validation", "approve", "--date", "2024-05-31", "--check", "transitions.new_hot_bounded"]
    assert main([*argv, "--up-to", "300", "--by", "ops", "--warehouse", uri]) == 0
    assert "approved transitions.new_hot_bounded up to 300 for 2024-05-31" in capsys.readouterr().out
    with connect(uri) as wh:
        assert gates.approved(wh, "2024-05-31", "transitions.new_hot_bounded") == 300
    # an unknown check is a clear error, not a stack trace
    assert main([*argv[:4], "--check", "scores.one_per_lead", "--up-to", "1", "--warehouse", uri]) == 2
    assert "cannot approve 'scores.one_per_lead'" in capsys.readouterr().err


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a busy CI host is not a failure
@given(
    values=st.lists(st.one_of(st.none(), st.sampled_from("abcdefgh")), max_size=40),
    known=st.lists(st.sampled_from("abcdefghxyz"), max_size=12),
)
def test_event_resolution_counts_what_a_set_lookup_counts(values, known):
    # the chunk's distinct values are hashed instead of every known id: membership must not change,
    # for repeated values, values no lead has, nulls (never a lead) and an empty set of known ids
    import pyarrow as pa
    import pyarrow.compute as pc

    from leadflow.validation.gates import _member

    member = _member(pa.array(values, type=pa.string()), pc.unique(pa.array(known, type=pa.string())))
    assert member.to_pylist() == [v is not None and v in set(known) for v in values]
