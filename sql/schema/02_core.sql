-- core: cleaned, deduplicated, identity-resolved leads and events.
create schema if not exists core;

create table if not exists core.leads (
    lead_id text primary key,
    crm_id text not null unique,
    email text,
    first_name text,
    last_name text,
    company text,
    industry text,
    employee_count integer,
    job_title text,
    country text,
    locale text not null,
    timezone text not null,
    lead_source text,
    owner_email text,
    email_opt_in boolean not null,
    bant_budget boolean,
    bant_authority boolean,
    bant_need boolean,
    bant_timeline boolean,
    crm_status text not null,
    created_at timestamptz,
    updated_at timestamptz,
    _batch_id text,
    _file text,
    _row integer
);

-- the raw record each lead came from (warehouses staged before it was kept rebuild once: null batch)
alter table core.leads add column if not exists _batch_id text;
alter table core.leads add column if not exists _file text;
alter table core.leads add column if not exists _row integer;

-- the raw CRM batches merged into core.leads; extracting or validating a batch again removes its row
create table if not exists core.leads_batches (
    _batch_id text primary key
);

-- On DuckDB core.events carries no index: a first night of 50M events would hold two ART indexes
-- of that size in memory; staging keeps event_id unique itself (first copy wins, known ids skipped)
-- and DuckDB's zone maps find a batch. PostgreSQL keeps both indexes on disk.
create table if not exists core.events (
    event_id text{{ m.postgres_primary_key() }},
    lead_id text not null,
    event_type text not null,
    occurred_at timestamptz not null,
    event_date date not null,
    url text,
    asset text,
    _batch_id text not null
);

-- nightly rollups look up one batch's events
{{ m.postgres_index('events_batch_idx', 'core.events', '_batch_id') }}

-- the leads a CRM reconciliation found missing (deleted in the CRM, docs/adr/0018): one row per lead,
-- with the latest reconciliation batch that did not have it. Such a lead leaves core.leads (no score,
-- email or write-back from then on); its history stays. A later batch that has it again brings it back.
create table if not exists core.deleted_leads (
    lead_id text primary key,
    crm_id text not null unique,
    deleted_batch text not null
);
