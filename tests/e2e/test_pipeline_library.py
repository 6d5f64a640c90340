"""The nightly steps as a library (what the DAG tasks call), on both backends: failures are clear and safe."""

from __future__ import annotations

from datetime import date

import pytest

from leadflow.backfill import run_nightly
from leadflow.demo.generate import generate
from leadflow.pipeline import stage_counts
from leadflow.sources.files import SchemaDriftError
from leadflow.validation.gx import ValidationFailed

AS_OF = date(2026, 11, 22)


def landed_settings(settings, tmp_path, **kwargs):
    generate(tmp_path / "landing", leads=120, days=40, seed=3, end_date=AS_OF, **kwargs)
    return settings.model_copy(
        update={
            "sources": settings.sources.model_copy(
                update={
                    "crm": settings.sources.crm.model_copy(update={"path": tmp_path / "landing" / "crm"}),
                    "web": settings.sources.web.model_copy(update={"path": tmp_path / "landing" / "web"}),
                }
            )
        }
    )


def test_a_rerun_of_the_same_date_changes_nothing(wh, settings, tmp_path):
    cfg = landed_settings(settings, tmp_path)
    first = run_nightly(wh, cfg, AS_OF)
    tables = [
        "scoring.lead_scores",
        "scoring.score_factors",
        "lifecycle.stage_transitions",
        "core.events",
        "raw.web_events",
    ]
    counts = {t: wh.scalar(f"select count(*) from {t}") for t in tables}
    second = run_nightly(wh, cfg, AS_OF)
    assert {t: wh.scalar(f"select count(*) from {t}") for t in tables} == counts
    assert second.steps["write_back"] == {"changed": 0, "written": 0, "failed": 0}
    assert first.steps["write_back"]["written"] == counts["scoring.lead_scores"] > 0
    assert sum(stage_counts(wh).values()) == counts["scoring.lead_scores"]


def test_too_many_bad_rows_fail_the_run_before_anything_reaches_core(wh, settings, tmp_path):
    cfg = landed_settings(settings, tmp_path, bad_share=0.2)
    with pytest.raises(ValidationFailed) as failure:
        run_nightly(wh, cfg, AS_OF)
    message = str(failure.value)
    assert message.startswith("raw_crm: ") and "failed validation, limit 5.0 %" in message
    assert "see ops.quarantine for batch 2026-11-22" in message
    # the evidence is kept; nothing was staged, scored or written back
    assert wh.scalar("select count(*) from ops.quarantine where source = 'crm'") > 0
    assert wh.scalar("select count(*) from core.leads") == 0
    assert wh.scalar("select count(*) from crm.lead_fields") == 0


def test_a_dropped_column_is_a_clear_schema_drift_error(wh, settings, tmp_path):
    cfg = landed_settings(settings, tmp_path)
    crm_file = next((tmp_path / "landing" / "crm").glob("*.csv"))
    lines = crm_file.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace(",timezone,", ",tz,")
    crm_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SchemaDriftError, match=r"leads_2026-11-22\.csv: missing column\(s\) timezone"):
        run_nightly(wh, cfg, AS_OF)
    assert wh.scalar("select count(*) from raw.crm_leads") == 0  # nothing half-loaded


def test_housekeeping_keeps_the_landing_files_a_rerun_of_the_night_reads(wh, settings, tmp_path):
    """The first night loads every event file of the window; retention goes by the night that loaded a
    file, so a rerun of that night after housekeeping reads the same files and scores the same."""
    from leadflow.privacy.retention import housekeep

    cfg = landed_settings(settings, tmp_path)
    cfg = cfg.model_copy(update={"mailer": cfg.mailer.model_copy(update={"outbox": tmp_path / "outbox"})})
    scores = "select lead_id, total_score, top_reasons from scoring.lead_scores order by lead_id"
    run_nightly(wh, cfg, AS_OF)
    first = wh.fetchall(scores)
    files = sorted(p.name for p in (tmp_path / "landing" / "web").iterdir())
    assert min(files) < "events_2026-10-18"  # older than the 35 days raw files are kept for
    housekeep(wh, cfg, AS_OF, tmp_path / "logs")
    assert sorted(p.name for p in (tmp_path / "landing" / "web").iterdir()) == files
    run_nightly(wh, cfg, AS_OF)
    assert wh.fetchall(scores) == first
