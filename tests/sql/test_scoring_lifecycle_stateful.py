"""A stateful test (hypothesis) of the lifecycle: whatever events, CRM changes and nights happen,
only allowed transitions ever appear, terminal stages hold, no lead moves up after a recycle without
an event dated after it, and a rerun of a night changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from leadflow.config import load_settings
from leadflow.lifecycle import ALLOWED_TRANSITIONS, TERMINAL, illegal_transitions, reentries_without_evidence
from leadflow.pipeline import advance_stages, create_schemas, score
from leadflow.scoring import EVENT_TYPES
from leadflow.warehouse import connect
from tests.conftest import ROOT
from tests.sql.rows import add_events, add_leads, lead_id

LEADS = ("A", "B", "C")
CRM_STATUSES = ("new", "working", "nurturing", "qualified", "customer", "disqualified")


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.settings = load_settings(ROOT / "config" / "leadflow.yml")
        self.wh = connect("duckdb:///:memory:")
        create_schemas(self.wh)
        add_leads(
            self.wh,
            {"crm_id": "A", "job_title": "部長", "employee_count": 300},  # warm on fit alone
            {"crm_id": "B"},
            {"crm_id": "C", "job_title": "CEO", "industry": "software"},
        )
        self.day = date(2026, 6, 1)
        self.serial = 0
        self.ran = False
        self.dirty = True

    def teardown(self) -> None:
        self.wh.close()

    def night(self) -> None:
        score(self.wh, self.settings, self.day)
        advance_stages(self.wh, self.settings, self.day)
        self.ran, self.dirty = True, False

    @rule(crm_id=st.sampled_from(LEADS), event=st.sampled_from(EVENT_TYPES), count=st.integers(1, 3))
    def event_today(self, crm_id: str, event: str, count: int) -> None:
        self.serial += 1
        add_events(self.wh, crm_id, *[(event, self.day.isoformat())] * count, prefix=f"s{self.serial}-")
        self.dirty = True

    @rule(crm_id=st.sampled_from(LEADS), status=st.sampled_from(CRM_STATUSES))
    def crm_status_changes(self, crm_id: str, status: str) -> None:
        self.wh.execute("update core.leads set crm_status = :s where lead_id = :l", {"s": status, "l": lead_id(crm_id)})
        self.dirty = True

    @rule(crm_id=st.sampled_from(LEADS), confirmed=st.integers(0, 4))
    def bant_confirmed(self, crm_id: str, confirmed: int) -> None:
        flags = [n < confirmed for n in range(4)]
        self.wh.execute(
            "update core.leads set bant_budget = :b, bant_authority = :a, bant_need = :n, bant_timeline = :t"
            " where lead_id = :l",
            {"b": flags[0], "a": flags[1], "n": flags[2], "t": flags[3], "l": lead_id(crm_id)},
        )
        self.dirty = True

    @rule(days=st.sampled_from([1, 3, 7, 14, 30, 90]))
    def nights_pass(self, days: int) -> None:
        if self.ran:
            self.day += timedelta(days=days)
        self.night()

    @precondition(lambda self: self.ran and not self.dirty)
    @rule()
    def rerun_changes_nothing(self) -> None:
        before = self.wh.fetchall("select * from lifecycle.stage_transitions order by lead_id, as_of_date")
        scores = self.wh.fetchall("select * from scoring.lead_scores order by lead_id, as_of_date")
        self.night()
        assert self.wh.fetchall("select * from lifecycle.stage_transitions order by lead_id, as_of_date") == before
        assert self.wh.fetchall("select * from scoring.lead_scores order by lead_id, as_of_date") == scores

    @invariant()
    def only_allowed_transitions(self) -> None:
        assert illegal_transitions(self.wh) == []
        edges = self.wh.fetchall(
            "select from_stage, to_stage from lifecycle.stage_transitions where from_stage is not null"
        )
        assert all(edge in ALLOWED_TRANSITIONS for edge in edges)

    @invariant()
    def no_lead_moves_up_after_a_recycle_without_new_evidence(self) -> None:
        assert reentries_without_evidence(self.wh) == []

    @invariant()
    def terminal_stages_hold_and_history_is_consistent(self) -> None:
        rows = self.wh.fetchall(
            "select lead_id, as_of_date, from_stage, to_stage from lifecycle.stage_transitions"
            " order by lead_id, as_of_date"
        )
        previous: dict[str, str] = {}
        for lead, _, from_stage, to_stage in rows:
            # each transition starts where the last one ended; nothing leaves a terminal stage
            assert from_stage == previous.get(lead)
            assert from_stage not in TERMINAL
            previous[lead] = to_stage


Lifecycle.TestCase.settings = settings(
    max_examples=15, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_only_allowed_transitions_ever_appear = Lifecycle.TestCase


def test_allowed_transitions_table_matches_the_lifecycle_contract(wh):
    rows = set(wh.fetchall("select from_stage, to_stage from lifecycle.allowed_transitions"))
    assert rows == set(ALLOWED_TRANSITIONS)
