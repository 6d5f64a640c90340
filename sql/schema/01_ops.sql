-- ops: what was loaded, what was quarantined and why, and every validation's outcome.
create schema if not exists ops;

create table if not exists ops.loaded_files (
    source text not null,
    file_name text not null,
    batch_id text not null,
    row_count integer not null,
    sha256 text not null,
    loaded_at timestamptz not null,
    primary key (source, file_name)
);

create table if not exists ops.quarantine (
    source text not null,
    batch_id text not null,
    _file text not null,
    _row integer not null,
    record text not null,
    reason text not null,
    quarantined_at timestamptz not null
);

create table if not exists ops.validation_results (
    batch_id text not null,
    validation text not null,
    success boolean not null,
    summary text not null,
    results text not null,
    recorded_at timestamptz not null,
    primary key (batch_id, validation)
);

-- an operator approval of a larger run than a validation limit allows (one check, one batch).
create table if not exists ops.validation_approvals (
    batch_id text not null,
    check_name text not null,
    approved_up_to bigint not null,
    approved_by text not null,
    approved_at timestamptz not null,
    primary key (batch_id, check_name)
);

-- events stamped after their batch's as-of cutoff but not after the next night's: early, not bad.
-- Each is kept here (as validated) until the night whose window covers it (due_date) stages it
-- (sql/staging/stg_events.sql); validation replaces a batch's rows when it runs again.
create table if not exists ops.held_events (
    batch_id text not null,
    _file text not null,
    _row integer not null,
    due_date date not null,
    event_id text,
    crm_id text,
    email text,
    event_type text,
    occurred_at text,
    url text,
    properties text,
    primary key (batch_id, _file, _row)
);

-- one row per CRM batch extracted: how the source was read and the high-water mark it leaves
-- (docs/adr/0018). `full_snapshot`: every record landed (a reconciliation: deletions are judged
-- against it); otherwise the records changed since `since`. `rows_read`: the records the source held
-- (the due exports' rows, or the CRM's count); `newest_updated_at`: the newest usable updated_at
-- read, not after the cutoff (UTC ISO text: text order is time order), the next batch's mark.
create table if not exists ops.crm_extracts (
    batch_id text primary key,
    source text not null,
    full_snapshot boolean not null,
    since text,
    rows_read bigint not null,
    rows_landed bigint not null,
    newest_updated_at text,
    recorded_at timestamptz not null
);

-- an operator's request to reconcile the CRM (land every record) on one night (`leadflow run
-- --reconcile`, the nightly DAG's `reconcile_crm` param); kept, so a rerun of the night reconciles again
create table if not exists ops.crm_reconcile_requests (
    batch_id text primary key,
    requested_by text not null,
    requested_at timestamptz not null
);
