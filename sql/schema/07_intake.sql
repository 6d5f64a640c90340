-- intake: what leadflow serve accepted (unsubscribes, SendGrid events, pushed web events), one row per
-- delivery key; a delivery SendGrid or the website retries lands on the same key and adds nothing.
create table if not exists ops.inbox (
    kind text not null,
    dedupe_key text not null,
    received_at timestamptz not null,
    payload text not null,
    loaded_at timestamptz not null,
    applied_at timestamptz,
    apply_run text,
    primary key (kind, dedupe_key)
);

-- how far each file segment of the embedded inbox (data/inbox/*.jsonl) has been loaded into ops.inbox
create table if not exists ops.inbox_segments (
    segment text primary key,
    bytes_loaded bigint not null,
    loaded_at timestamptz not null
);

-- leadflow_intake (applying the inbox): what became of each record (applied, quarantined, ignored)
alter table ops.inbox add column if not exists outcome text;

-- the events leadflow_intake wrote into core.events (SendGrid opens and clicks, pushed web events): the
-- nightly staging of their batch keeps them (stg_events.sql), so a rerun of that night loses none
create table if not exists ops.inbox_events (
    event_id text primary key,
    kind text not null,
    dedupe_key text not null,
    _batch_id text not null
);

-- when the intraday step (docs/adr/0019) rescored the lead of each event: null until then
alter table ops.inbox_events add column if not exists rescored_at timestamptz;
{{ m.postgres_index('inbox_events_pending_idx', 'ops.inbox_events', '_batch_id', where='rescored_at is null') }}
