"""The lead lifecycle: its stages, the edges between them and checks over the stage history.

The decisions themselves are SQL (`sql/lifecycle/stage_transitions.sql`); this module names the
contract that SQL must keep, so tests and run checks can hold it to it.
"""

from __future__ import annotations

from datetime import date

from leadflow.warehouse import Warehouse

TERMINAL = frozenset({"customer", "disqualified"})
"""Stages set from the CRM status that nothing leaves."""

RECYCLE_RULES = ("hot_sla_expired", "silent_churn")
"""The named rules that may move a lead backwards (to `recycled`); each is the start of its reason."""

_FORWARD = {
    ("cold", "warm"),
    ("cold", "hot"),
    ("warm", "hot"),
    ("hot", "sales_qualified"),
    ("recycled", "warm"),
    ("recycled", "hot"),
}
_RECYCLE = {("cold", "recycled"), ("warm", "recycled"), ("hot", "recycled")}
_FROM_CRM = {(s, t) for s in ("cold", "warm", "hot", "sales_qualified", "recycled") for t in sorted(TERMINAL)}

ALLOWED_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(_FORWARD | _RECYCLE | _FROM_CRM)
"""Every (from, to) edge a lead may take; the same rows as `sql/lifecycle/allowed_transitions.sql`."""


def illegal_transitions(wh: Warehouse, as_of: date | None = None) -> list[tuple[str, str, int]]:
    """(from, to, count) of recorded transitions (of `as_of`, else of all history) off the allowed edges."""
    rows = wh.fetchall(
        """
        select t.from_stage, t.to_stage, count(*) from lifecycle.stage_transitions as t
        where (cast(:d as date) is null or t.as_of_date = cast(:d as date))
          and t.from_stage is not null
          and not exists (
              select 1 from lifecycle.allowed_transitions as a
              where a.from_stage = t.from_stage and a.to_stage = t.to_stage
          )
        group by t.from_stage, t.to_stage order by 1, 2
        """,
        {"d": as_of.isoformat() if as_of else None},
    )
    return [(str(f), str(t), int(n)) for f, t, n in rows]


def history(wh: Warehouse, lead_id: str) -> list[tuple[date, str | None, str, str]]:
    """One lead's stage history, oldest first: (as-of date, from, to, reason)."""
    rows = wh.fetchall(
        "select as_of_date, from_stage, to_stage, reason from lifecycle.stage_transitions"
        " where lead_id = :l order by as_of_date",
        {"l": lead_id},
    )
    return [(d, f, t, r) for d, f, t, r in rows]


def reentries_without_evidence(wh: Warehouse, as_of: date | None = None) -> list[tuple[str, date, str, str, date]]:
    """(lead, date, from, to, recycled on) of every move up out of a recycle (of `as_of`, else of all
    history) without an event of the lead dated after that recycle: the flapping the lifecycle forbids."""
    rows = wh.fetchall(
        wh.model_sql("lifecycle/reentries_without_evidence.sql"),
        {"as_of_date": as_of.isoformat() if as_of else None},
    )
    return [(str(lead), d, str(f), str(t), r) for lead, d, f, t, r in rows]
