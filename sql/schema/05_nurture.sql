-- nurture: track steps, enrolments, the send ledger (one row per send key) and suppressions.
create schema if not exists nurture;

create table if not exists nurture.track_steps (
    track text not null,
    step integer not null,
    template text not null,
    delay_days integer not null,
    kind text not null,
    primary key (track, step)
);

create table if not exists nurture.enrollments (
    lead_id text not null,
    track text not null,
    enrolled_on date not null,
    exited_on date,
    exit_reason text,
    primary key (lead_id, track, enrolled_on)
);

create table if not exists nurture.email_sends (
    send_key text primary key,
    lead_id text not null,
    as_of_date date not null,
    track text not null,
    step integer not null,
    enrolled_on date,
    template text not null,
    kind text not null,
    locale text not null,
    to_email text not null,
    status text not null,
    send_at timestamptz,
    message_id text,
    error text,
    planned_at timestamptz not null,
    claimed_at timestamptz,
    finished_at timestamptz
);

create table if not exists nurture.suppressions (
    email text primary key,
    kind text not null,
    source text not null,
    created_at timestamptz not null
);


create table if not exists nurture.trigger_events (
    trigger_name text not null,
    event_type text not null,
    primary key (trigger_name, event_type)
);

create table if not exists nurture.exit_statuses (
    crm_status text primary key
);
