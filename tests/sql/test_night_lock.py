"""The warehouse's nightly lock (ops.night_lock) on both backends: one holder, taken over only from a gone run."""

from __future__ import annotations

from datetime import date

from leadflow.backfill import end_turn, take_turn

NIGHT = date(2026, 11, 22)


def test_one_run_holds_the_lock_until_it_ends_or_is_gone(wh):
    alive = {"leadflow_nightly/a", "leadflow_nightly/b"}

    def gone(run: str) -> bool:
        return run not in alive

    assert take_turn(wh, "leadflow_nightly/a", NIGHT, gone) is None
    assert take_turn(wh, "leadflow_nightly/a", NIGHT, gone) is None  # a poke again: still its own
    assert take_turn(wh, "leadflow_nurture/b", NIGHT, gone) == "leadflow_nightly/a"

    end_turn(wh, "leadflow_nurture/b")  # not the holder: changes nothing
    assert take_turn(wh, "leadflow_nurture/b", NIGHT, gone) == "leadflow_nightly/a"

    alive.discard("leadflow_nightly/a")  # its run was killed without its teardown
    assert take_turn(wh, "leadflow_nurture/b", NIGHT, gone) is None
    end_turn(wh, "leadflow_nurture/b")
    assert wh.scalar("select count(*) from ops.night_lock") == 0
