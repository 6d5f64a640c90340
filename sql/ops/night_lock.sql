-- ops.night_lock: the run that holds the warehouse (one row at most). Nightly runs (scheduled, rerun or
-- backfilled) and nurture runs take turns (ADR 0007); run_id names the holder as `dag_id/run_id`.
create schema if not exists ops;

create table if not exists ops.night_lock (
    lock_name text primary key,
    run_id text not null,
    as_of_date date not null,
    acquired_at timestamptz not null
);
