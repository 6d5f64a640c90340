"""What-if: score the current warehouse with candidate rules and diff it against the current rules.

Both sides run the real nightly SQL (scores, stages, nurture planning) inside a transaction that is
always rolled back, so a simulation writes nothing and sees exactly what a night would do.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from leadflow.batches import model_params
from leadflow.cli_common import command_warehouse
from leadflow.config import Settings, load_settings
from leadflow.console import console, print_json, progress, table
from leadflow.nurture.plan import plan_sends
from leadflow.scoring import (
    ScoringRules,
    install_rules,
    key_events,
    load_rules,
    rebuild_scores,
    run_scoring_models,
)
from leadflow.warehouse import Warehouse

_LEADS_SQL = """
select
    l.lead_id,
    l.crm_id,
    s.total_score,
    s.fit_grade,
    st.stage,
    st.reason
from core.leads as l
left join scoring.lead_scores as s on l.lead_id = s.lead_id and s.as_of_date = cast(:d as date)
left join lifecycle.lead_stages as st on l.lead_id = st.lead_id
"""


@dataclass(frozen=True)
class Scenario:
    """What one set of rules does to the warehouse as of a date: every lead's score and stage, the emails."""

    rules_version: str
    leads: pd.DataFrame
    emails: pd.DataFrame
    email_error: str | None = None


@dataclass(frozen=True)
class SimulationReport:
    """The difference between the current rules and candidate rules on one as-of date."""

    as_of: date
    current_version: str
    candidate_version: str
    leads: int
    stage_changes: pd.DataFrame  # from_stage, to_stage, leads
    stage_samples: pd.DataFrame  # crm_id, from_stage, to_stage, score_before, score_after, reason
    new_emails: pd.DataFrame  # track, template, emails (newly planned with the candidate rules)
    dropped_emails: int
    distribution: pd.DataFrame  # band, before, after
    stats: dict[str, dict[str, float]] = field(default_factory=dict)
    email_error: str | None = None


def run_scenario(wh: Warehouse, settings: Settings, rules: ScoringRules, as_of: date) -> Scenario:
    """Score, advance stages and plan emails for `as_of` with `rules`, read the outcome, roll back."""
    params = model_params(settings, as_of)
    d = {"d": as_of.isoformat()}
    out: dict[str, Any] = {"email_error": None}
    with wh.rolled_back("simulate"):
        install_rules(wh, rules)
        key_events(wh, settings, as_of)
        run_scoring_models(wh, params)
        wh.run_model("lifecycle/stage_transitions.sql", params)
        wh.run_model("lifecycle/lead_stages.sql", params)
        out["leads"] = wh.fetch_df(_LEADS_SQL, d)
        before = {k for (k,) in wh.fetchall("select send_key from nurture.email_sends")}
        try:
            plan_sends(wh, settings, as_of, approve_up_to=10**9)
            planned = wh.fetch_df(
                "select send_key, lead_id, track, template, kind from nurture.email_sends"
                " where as_of_date = cast(:d as date)",
                d,
            )
            out["emails"] = planned[~planned["send_key"].isin(before)].reset_index(drop=True)
        except Exception as exc:  # the scores and stages still tell most of the story
            out["email_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    emails = out.get("emails")
    if emails is None:
        emails = pd.DataFrame(columns=["send_key", "lead_id", "track", "template", "kind"])
    return Scenario(rules.version, out["leads"], emails, out["email_error"])


def _bands(scores: pd.Series, low: float, high: float) -> pd.Series:
    width = (high - low) / 10
    band = ((scores - low) // width).clip(0, 9)
    return band.map(lambda b: f"{low + b * width:g}–{low + (b + 1) * width:g}")


def _stats(scores: pd.Series) -> dict[str, float]:
    s = pd.to_numeric(scores, errors="coerce").dropna()
    if s.empty:
        return {"mean": 0.0, "median": 0.0, "p90": 0.0}
    return {"mean": round(float(s.mean()), 2), "median": float(s.median()), "p90": float(s.quantile(0.9))}


def compare(
    current: Scenario, candidate: Scenario, as_of: date, samples: int = 5, score_range=(0, 100)
) -> SimulationReport:
    """The report of `candidate` against `current` (both from `run_scenario` on the same date)."""
    both = current.leads.merge(candidate.leads, on=["lead_id", "crm_id"], suffixes=("_before", "_after"))
    changed = both[both["stage_before"].fillna("") != both["stage_after"].fillna("")].rename(
        columns={"stage_before": "from_stage", "stage_after": "to_stage"}
    )
    changes = (
        changed.groupby(["from_stage", "to_stage"], dropna=False)
        .size()
        .rename("leads")
        .reset_index()
        .sort_values(["leads", "from_stage", "to_stage"], ascending=[False, True, True])
        .reset_index(drop=True)
    )
    sample_rows = (
        changed.sort_values(["from_stage", "to_stage", "crm_id"])
        .groupby(["from_stage", "to_stage"], dropna=False)
        .head(samples)
        .loc[:, ["crm_id", "from_stage", "to_stage", "total_score_before", "total_score_after", "reason_after"]]
        .rename(
            columns={"total_score_before": "score_before", "total_score_after": "score_after", "reason_after": "reason"}
        )
        .reset_index(drop=True)
    )
    new_keys = ~candidate.emails["send_key"].isin(current.emails["send_key"])
    new_emails = (
        candidate.emails[new_keys]
        .groupby(["track", "template"])
        .size()
        .rename("emails")
        .reset_index()
        .sort_values(["emails", "track"], ascending=[False, True])
        .reset_index(drop=True)
    )
    dropped = int((~current.emails["send_key"].isin(candidate.emails["send_key"])).sum())
    low, high = float(score_range[0]), float(score_range[1])
    before = _bands(pd.to_numeric(both["total_score_before"]), low, high).value_counts()
    after = _bands(pd.to_numeric(both["total_score_after"]), low, high).value_counts()
    labels = [f"{low + b * (high - low) / 10:g}–{low + (b + 1) * (high - low) / 10:g}" for b in range(10)]
    distribution = pd.DataFrame(
        {
            "band": labels,
            "before": [int(before.get(b, 0)) for b in labels],
            "after": [int(after.get(b, 0)) for b in labels],
        }
    )
    return SimulationReport(
        as_of=as_of,
        current_version=current.rules_version,
        candidate_version=candidate.rules_version,
        leads=len(both),
        stage_changes=changes,
        stage_samples=sample_rows,
        new_emails=new_emails,
        dropped_emails=dropped,
        distribution=distribution,
        stats={"before": _stats(both["total_score_before"]), "after": _stats(both["total_score_after"])},
        email_error=current.email_error or candidate.email_error,
    )


def simulate(
    wh: Warehouse,
    settings: Settings,
    rules_path: Path,
    as_of: date | None = None,
    *,
    profile: str | None = None,
    samples: int = 5,
) -> SimulationReport:
    """Candidate rules at `rules_path` against the current rules on `as_of` (default: the latest scored date).

    Writes nothing: each side runs in a transaction that is rolled back.
    """
    current_rules = load_rules(settings.path(settings.scoring_rules))
    candidate_rules = load_rules(Path(rules_path), profile)
    if as_of is None:
        latest = wh.scalar("select max(as_of_date) from scoring.lead_scores")
        if latest is None:
            raise ValueError("simulate: no scores in the warehouse yet; pass --date or run the nightly first")
        as_of = date.fromisoformat(str(latest)[:10])
    current = run_scenario(wh, settings, current_rules, as_of)
    candidate = run_scenario(wh, settings, candidate_rules, as_of)
    low = min(current_rules.score_range[0], candidate_rules.score_range[0])
    high = max(current_rules.score_range[1], candidate_rules.score_range[1])
    return compare(current, candidate, as_of, samples, (low, high))


def _num(value: object) -> str:
    return "—" if value is None or pd.isna(value) else f"{float(value):.0f}"  # type: ignore[arg-type]


def format_report(report: SimulationReport) -> str:
    """The report as plain text for the terminal."""
    lines = [
        f"leadflow simulate as of {report.as_of}: rules {report.current_version} → {report.candidate_version}"
        f" ({report.leads:,} leads; nothing written)",
        "",
        "stage changes (from → to: leads)",
    ]
    if report.stage_changes.empty:
        lines.append("  (none)")
    for row in report.stage_changes.itertuples():
        lines.append(f"  {row.from_stage or '(new)'} → {row.to_stage}: {row.leads:,}")
    if not report.stage_samples.empty:
        lines.append("  samples:")
        for s in report.stage_samples.itertuples():
            lines.append(
                f"    {s.crm_id}  {s.from_stage or '(new)'} → {s.to_stage}"
                f"  score {_num(s.score_before)} → {_num(s.score_after)}  ({s.reason})"
            )
    lines += ["", "emails newly planned with the new rules (track / template: emails)"]
    if report.email_error:
        lines.append(f"  (not available: {report.email_error})")
    elif report.new_emails.empty:
        lines.append("  (none)")
    for e in report.new_emails.itertuples():
        lines.append(f"  {e.track} / {e.template}: {e.emails:,}")
    if report.dropped_emails:
        lines.append(f"  no longer planned: {report.dropped_emails:,}")
    b, a = report.stats.get("before", {}), report.stats.get("after", {})
    lines += [
        "",
        "score distribution (band: before → after)",
        *[f"  {r.band:>9}: {r.before:>7,} → {r.after:>7,}" for r in report.distribution.itertuples()],
        f"  mean {b.get('mean', 0):.1f} → {a.get('mean', 0):.1f}, median {b.get('median', 0):.1f} → "
        f"{a.get('median', 0):.1f}, p90 {b.get('p90', 0):.1f} → {a.get('p90', 0):.1f}",
    ]
    return "\n".join(lines)


def report_tables(report: SimulationReport) -> list[Any]:
    """The report as rich renderables for the terminal (the same content as `format_report`)."""
    parts: list[Any] = [
        f"leadflow simulate as of {report.as_of}: rules {report.current_version} → {report.candidate_version}"
        f" ({report.leads:,} leads; nothing written)"
    ]
    changes = ((r.from_stage or "(new)", r.to_stage, f"{r.leads:,}") for r in report.stage_changes.itertuples())
    parts.append(
        table("\nstage changes", ("from", "to", "leads"), changes, right=["leads"])
        if not report.stage_changes.empty
        else "\nstage changes: (none)"
    )
    if not report.stage_samples.empty:
        samples = (
            (s.crm_id, s.from_stage or "(new)", s.to_stage, _num(s.score_before), _num(s.score_after), s.reason)
            for s in report.stage_samples.itertuples()
        )
        parts.append(
            table(
                "\nsample leads",
                ("CRM id", "from", "to", "score before", "score after", "reason"),
                samples,
                right=["score before", "score after"],
            )
        )
    if report.email_error:
        parts.append(f"\nemails newly planned with the new rules: (not available: {report.email_error})")
    elif report.new_emails.empty:
        parts.append("\nemails newly planned with the new rules: (none)")
    else:
        rows = ((e.track, e.template, f"{e.emails:,}") for e in report.new_emails.itertuples())
        parts.append(
            table("\nemails newly planned with the new rules", ("track", "template", "emails"), rows, right=["emails"])
        )
    if report.dropped_emails:
        parts.append(f"emails no longer planned: {report.dropped_emails:,}")
    bands = ((r.band, f"{r.before:,}", f"{r.after:,}") for r in report.distribution.itertuples())
    parts.append(
        table(
            "\nscore distribution (leads per score band)",
            ("band", "before", "after"),
            bands,
            right=["band", "before", "after"],
        )
    )
    b, a = report.stats.get("before", {}), report.stats.get("after", {})
    parts.append(
        table(
            None,
            ("", "before", "after"),
            ((k, f"{b.get(k, 0):.1f}", f"{a.get(k, 0):.1f}") for k in ("mean", "median", "p90")),
            right=["before", "after"],
        )
    )
    return parts


def cmd_simulate(args: argparse.Namespace) -> int:
    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        report = simulate(wh, cfg, Path(args.rules), args.date, profile=args.profile, samples=args.samples)
    if getattr(args, "json", False):
        print_json(report)
        return 0
    out = console()
    for part in report_tables(report):
        out.print(part)
    return 0


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `leadflow simulate --rules NEW.yml [--date D] [--profile P]` to the CLI's subcommands."""
    sim = subparsers.add_parser(
        "simulate", help="score the warehouse with candidate rules and show what would change (writes nothing)"
    )
    sim.add_argument("--rules", required=True, help="candidate scoring.yml")
    sim.add_argument("--profile", help="scoring profile in that file (default: its top level)")
    sim.add_argument("--date", type=date.fromisoformat, help="as-of date (default: the latest scored date)")
    sim.add_argument("--samples", type=int, default=5, help="sample leads shown per stage change")
    sim.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    sim.add_argument("--json", action="store_true", help="print the report as JSON (tables as lists of rows)")
    sim.set_defaults(func=cmd_simulate)
    return sim


def cmd_rescore(args: argparse.Namespace) -> int:
    cfg = load_settings(args.config)
    with command_warehouse(args, cfg) as wh:
        dates = args.date or [
            date.fromisoformat(str(d)[:10])
            for (d,) in wh.fetchall("select distinct as_of_date from scoring.lead_scores order by 1")
        ]
        with progress() as bar:
            task = bar.add_task("rescore", total=len(dates))
            result = rebuild_scores(
                wh,
                cfg,
                dates,
                rekey=args.rekey,
                progress=lambda step, done, total: bar.update(task, completed=done, total=total, description=step),
            )
    if getattr(args, "json", False):
        print_json(result)
        return 0
    console().print(
        f"checked {result['keyed_events']:,} events in {result['batches']:,} batch(es), keyed again"
        f" {result['batches_keyed_again']:,} batch(es) ({result['events_keyed_again']:,} events),"
        f" rescored {result['dates']} date(s), {result['scored']:,} scores"
    )
    return 0


def add_rescore_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `leadflow rescore --full [--rekey] [--date D ...]`: check every batch of core.events against
    its keyed events, key again those that changed (`--rekey`: all of them), and rescore the given dates
    (default: every scored date); gives the same scores as the nightly runs."""
    res = subparsers.add_parser(
        "rescore", help="full rebuild: changed event batches keyed again, then the dates rescored"
    )
    res.add_argument("--full", action="store_true", required=True, help="rebuild from all of core.events")
    res.add_argument(
        "--rekey", action="store_true", help="key every event batch again, changed or not (slower; same scores)"
    )
    res.add_argument("--date", type=date.fromisoformat, action="append", help="as-of date (repeatable)")
    res.add_argument("--warehouse", help="warehouse URI (default: Airflow connection leadflow_warehouse)")
    res.add_argument("--json", action="store_true", help="print the rebuild's counts as JSON")
    res.set_defaults(func=cmd_rescore)
    return res
