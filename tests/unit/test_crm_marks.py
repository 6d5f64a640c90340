"""Which export rows a changed-only night lands (leadflow.sources.marks), on tiny inline rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from leadflow.sources.marks import changed_rows, newest_usable, updated_at_utc

MARK = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
CUTOFF = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)  # the end of 2026-11-22 in Tokyo


@pytest.mark.parametrize(
    ("updated_at", "lands"),
    [
        ("2026-11-21T10:00:00+09:00", True),  # at the mark: a second edit in the same clock tick
        ("2026-11-21T09:59:59+09:00", False),  # before it: landed by an earlier night
        ("2026-11-22T03:00:00Z", True),  # changed since
        ("2026-11-30T00:00:00Z", True),  # in the future: lands, the gate quarantines it
        (None, True),  # missing: lands, the gate says so
        ("yesterday", True),  # not ISO-8601
        ("2026-11-20T10:00:00", True),  # no zone: the gate refuses it, so it must land
        (" 2026-11-20t10:00:00z ", False),  # spaces and case the gate accepts too: a usable, old value
    ],
)
def test_a_row_lands_when_changed_since_the_mark_or_not_usable(updated_at, lands):
    updated = updated_at_utc(pd.Series([updated_at], dtype=object))
    assert changed_rows(updated, MARK).tolist() == [lands]


def test_without_a_mark_every_row_lands():
    assert changed_rows(updated_at_utc(pd.Series(["2020-01-01T00:00:00Z", None], dtype=object)), None).all()


def test_the_newest_usable_value_ignores_the_future_and_the_unusable():
    updated = updated_at_utc(
        pd.Series(
            ["2026-11-21T10:00:00+09:00", "2026-12-01T00:00:00Z", "2026-11-22T23:00:00", None, "2026-11-22T05:00:00Z"],
            dtype=object,
        )
    )
    # 2026-12-01 is after the cutoff and the naive one has no zone: 05:00Z is the newest that counts
    assert newest_usable(updated, CUTOFF) == datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    assert newest_usable(updated_at_utc(pd.Series([None], dtype=object)), CUTOFF) is None
