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
