-- raw: sources as landed, every value as text, with the batch and file position it came from.
create schema if not exists raw;

create table if not exists raw.crm_leads (
    crm_id text,
    email text,
    first_name text,
    last_name text,
    company text,
    industry text,
    employee_count text,
    job_title text,
    country text,
    locale text,
    timezone text,
    lead_source text,
    owner_email text,
    email_opt_in text,
    bant_budget text,
    bant_authority text,
    bant_need text,
    bant_timeline text,
    crm_status text,
    created_at text,
    updated_at text,
    _batch_id text not null,
    _file text not null,
    _row integer not null,
    _loaded_at timestamptz not null
);

create table if not exists raw.web_events (
    event_id text,
    crm_id text,
    email text,
    event_type text,
    occurred_at text,
    url text,
    properties text,
    _batch_id text not null,
    _file text not null,
    _row integer not null,
    _loaded_at timestamptz not null
);

-- every step reads, replaces or validates one batch: find it without reading every batch
{{ m.postgres_index('crm_leads_batch_idx', 'raw.crm_leads', '_batch_id') }}
{{ m.postgres_index('web_events_batch_idx', 'raw.web_events', '_batch_id') }}
