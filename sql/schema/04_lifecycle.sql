-- lifecycle: the stage rules, the current stage per lead and the append-only history.
create schema if not exists lifecycle;

create table if not exists lifecycle.settings (
    warm_threshold double precision not null,
    hot_threshold double precision not null,
    bant_required integer not null,
    hot_sla_days integer not null,
    silence_days integer not null
);

create table if not exists lifecycle.allowed_transitions (
    from_stage text not null,
    to_stage text not null,
    primary key (from_stage, to_stage)
);

create table if not exists lifecycle.lead_stages (
    lead_id text primary key,
    stage text not null,
    entered_on date not null,
    as_of_date date not null,
    reason text not null,
    rules_version text not null
);

create table if not exists lifecycle.stage_transitions (
    lead_id text not null,
    as_of_date date not null,
    from_stage text,
    to_stage text not null,
    reason text not null,
    rules_version text not null,
    primary key (lead_id, as_of_date)
);
