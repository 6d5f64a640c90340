-- crm: the demo CRM's lead fields (the write-back target), what was last written per lead, and refusals.
create schema if not exists crm;

create table if not exists crm.lead_fields (
    crm_id text primary key,
    lead_score integer,
    lead_fit_grade text,
    lead_stage text,
    lead_score_reasons text,
    lead_heating_up boolean,
    lead_scored_at timestamptz
);

-- the opt-out field (written back with the scores: an unsubscribe reaches the CRM at the next write-back)
alter table crm.lead_fields add column if not exists lead_email_opt_out boolean;

create table if not exists crm.sync_state (
    crm_id text primary key,
    fields_hash text not null,
    as_of_date date not null,
    synced_at timestamptz not null
);

-- one row per lead the CRM refused at its latest attempt (cleared when a later write succeeds)
create table if not exists crm.sync_failures (
    crm_id text primary key,
    error text not null,
    as_of_date date not null,
    failed_at timestamptz not null,
    attempts integer not null
);
