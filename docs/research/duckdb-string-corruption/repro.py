"""DuckDB 2.0.0 corrupts text columns of a file database that one transaction per night rewrites in part.

The shape of leadflow's `advance_stages` (sql/lifecycle/): each night deletes its own rows of a history table and
inserts them again, then empties a current-state table and fills it again from the history, in one transaction;
a rerun repeats a few nights. Plain SQL on one connection and one thread: no pandas, no Arrow, no registered view.
Once the WAL crosses `checkpoint_threshold` and the commit checkpoints, DuckDB 2.0.0 now and then leaves garbage:
a NOT NULL text column read back as NULL, a duplicate key that was never inserted, "Corrupted uncompressed string
segment: dictionary is outside the segment" at the checkpoint, or a segmentation fault. DuckDB 2.0.1 does not.

    python repro.py [seconds [threshold]]   # fresh databases until the budget runs out (default 15 s, 5MB);
                                            # exit 0: no corruption seen

A lower threshold than the default 16 MB makes checkpoints come sooner: at 5 MB a run of 12 s found it 5 times in 7.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import duckdb

VERSION = "2c50e5c4885a"
NIGHTS = [f"2026-11-{day:02d}" for day in range(1, 24)]
LEADS = 250

SCHEMA = [
    "create table scores (lead_id text, as_of_date date, total double, rules_version text not null,"
    " primary key (lead_id, as_of_date))",
    "create table transitions (lead_id text not null, as_of_date date not null, from_stage text,"
    " to_stage text not null, reason text not null, rules_version text not null, primary key (lead_id, as_of_date))",
    "create table stages (lead_id text primary key, stage text not null, entered_on date not null,"
    " as_of_date date not null, reason text not null, rules_version text not null)",
    f"""insert into scores
    select printf('%016x', hash(i)), d::date, (hash(i, d) % 100)::double, '{VERSION}'
    from range({LEADS}) as t (i), (select unnest({NIGHTS!r}) as d)""",
]

NIGHT = [
    "delete from transitions where as_of_date = cast($1 as date)",
    """insert into transitions
    with
    prev as (select lead_id, stage from stages),
    s as (select * from scores where as_of_date = cast($1 as date)),
    final as (
        select
            s.lead_id,
            s.as_of_date,
            p.stage as from_stage,
            case when s.total >= 60 then 'hot' when s.total >= 40 then 'warm' else 'cold' end as to_stage,
            'score ' || cast(s.total as integer) || ' reached threshold '
            || case when s.total >= 60 then '60' else '40' end as reason,
            s.rules_version
        from s left join prev as p using (lead_id)
        where p.stage is null
            or p.stage <> case when s.total >= 60 then 'hot' when s.total >= 40 then 'warm' else 'cold' end
    )
    select * from final""",
    "delete from stages",
    """insert into stages
    with
    ranked as (
        select t.*, row_number() over (partition by lead_id order by as_of_date desc) as recency
        from transitions as t
        where as_of_date <= cast($1 as date)
    ),
    final as (
        select lead_id, to_stage as stage, as_of_date as entered_on, cast($1 as date) as as_of_date, reason,
            rules_version
        from ranked
        where recency = 1
    )
    select * from final""",
]

CHECK = f"""
select
    (select count(*) from stages where rules_version is distinct from '{VERSION}'
        or entered_on not between date '2026-11-01' and date '2026-11-23')
    + (select count(*) from transitions where rules_version is distinct from '{VERSION}'
        or as_of_date not between date '2026-11-01' and date '2026-11-23')
"""


def run_nights(con: duckdb.DuckDBPyConnection, nights: list[str]) -> None:
    for night in nights:
        con.execute("begin transaction")
        for statement in NIGHT:
            con.execute(statement, [night] if "$1" in statement else None).fetchall()
        con.execute("commit")


def one_database(path: Path, deadline: float, threshold: str) -> str | None:
    """Nights in order and reruns of the last four, round after round, until the deadline or the first sign of
    corruption (its description; None when none was seen)."""
    con = duckdb.connect(str(path))
    try:
        con.execute(f"set checkpoint_threshold = '{threshold}'")
        for statement in SCHEMA:
            con.execute(statement)
        rounds = 0
        while time.monotonic() < deadline and rounds < 12:
            rounds += 1
            try:
                run_nights(con, NIGHTS + NIGHTS[-4:])
                bad = con.execute(CHECK).fetchone()[0]
            except duckdb.Error as exc:
                return f"round {rounds}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
            if bad:
                return f"round {rounds}: {bad} rows with garbage in rules_version or a date"
        con.execute("checkpoint")
        return None
    finally:
        con.close()


def main(seconds: float, threshold: str = "5MB") -> int:
    deadline = time.monotonic() + seconds
    databases = 0
    with tempfile.TemporaryDirectory() as tmp:
        while time.monotonic() < deadline:
            databases += 1
            found = one_database(Path(tmp) / f"w{databases}.duckdb", deadline, threshold)
            if found:
                print(f"duckdb {duckdb.__version__}: CORRUPT (database {databases}) {found}")
                return 1
    print(f"duckdb {duckdb.__version__}: ok ({databases} database(s), {seconds:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 15.0, *sys.argv[2:3]))
