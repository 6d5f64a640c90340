-- scoring: the rules as tables (loaded from config/scoring.yml), every factor, every score.
create schema if not exists scoring;

create table if not exists scoring.fit_rules (
    rule_id text primary key,
    rule_group text not null,
    priority integer not null,
    field text not null,
    operator text not null,
    value_text text,
    value_min double precision,
    value_max double precision,
    points double precision not null,
    label_ja text not null,
    label_en text not null
);

create table if not exists scoring.fit_rule_values (
    rule_id text not null,
    value text not null
);

create table if not exists scoring.engagement_rules (
    rule_id text primary key,
    event_type text not null,
    url_pattern text,
    points double precision not null,
    cap double precision not null,
    half_life_days double precision not null,
    window_days integer not null,
    max_per_day integer not null,
    hand_raiser boolean not null,
    label_ja text not null,
    label_en text not null
);

create table if not exists scoring.settings (
    rules_version text not null,
    score_min double precision not null,
    score_max double precision not null,
    grade_a double precision not null,
    grade_b double precision not null,
    grade_c double precision not null,
    heating_up_delta double precision not null,
    top_reasons integer not null
);

-- The two ledgers grow by every lead every night, so they carry no primary key: a unique index
-- made each night's insert of ~6 factor rows per lead several times slower than the scoring itself
-- (the SQL groups by the key, and the score gate checks one score per lead and date). Reads and
-- deletes go by as-of date: DuckDB's zone maps serve them, PostgreSQL gets a BRIN index below.
create table if not exists scoring.score_factors (
    lead_id text not null,
    as_of_date date not null,
    rule_id text not null,
    kind text not null,
    occurrences integer not null,
    points double precision not null
);

create table if not exists scoring.lead_scores (
    lead_id text not null,
    as_of_date date not null,
    fit_score double precision not null,
    engagement_score double precision not null,
    total_score double precision not null,
    fit_grade text not null,
    score_change_7d double precision,
    heating_up boolean not null,
    hand_raiser boolean not null,
    last_activity_date date,
    top_reasons text not null,
    rules_version text not null
);

-- warehouses created before the ledgers lost their keys
{{ m.drop_constraint('scoring.score_factors', 'score_factors_pkey') }}
{{ m.drop_constraint('scoring.lead_scores', 'lead_scores_pkey') }}
{{ m.postgres_index('score_factors_date_brin', 'scoring.score_factors', 'as_of_date', using='brin') }}
{{ m.postgres_index('lead_scores_date_brin', 'scoring.lead_scores', 'as_of_date', using='brin') }}

-- rules added after the first release: a warehouse created earlier gains the column here
alter table scoring.engagement_rules add column if not exists asset_pattern text;

-- Integer keys under the scoring tables (docs/adr/0006): the rebuild and the nightly rescore group and
-- join on integers, and the text ids are joined back once, when the factors and scores are written.

-- scoring.lead_keys: a dense INTEGER per lead id (every lead of core.leads and any lead only events
-- know), assigned when the lead is first seen and never reused
create table if not exists scoring.lead_keys (
    lead_key integer not null,
    lead_id text not null
);

-- scoring.event_triples: each distinct (event type, url, asset) of core.events, numbered as it first
-- arrives; the engagement rules' patterns are matched against these, not against every event
create table if not exists scoring.event_triples (
    triple_id integer not null,
    event_type text not null,
    url text,
    asset text
);

-- scoring.rule_keys: every rule (fit, engagement, the score-range clamp) as a SMALLINT in rule-id
-- order, so ordering by key orders by rule id (the reasons' tie-break); rebuilt with the rules
create table if not exists scoring.rule_keys (
    rule_key smallint not null,
    rule_id text not null,
    kind text not null,
    label_ja text,
    label_en text,
    hand_raiser boolean not null,
    labelled boolean not null
);

-- scoring.triple_rules: which engagement rule each triple counts for; rebuilt with the rules, so a
-- rule change needs no events keyed again
create table if not exists scoring.triple_rules (
    triple_id integer not null,
    rule_key smallint not null
);

-- scoring.keyed_events: every event of core.events as integers (its batch's as-of date, lead key, local
-- day, triple): what the engagement factors read. Grouping it hardly compresses (each lead's events are
-- spread over days, types and pages), so it keeps one row per event and the factors count them.
create table if not exists scoring.keyed_events (
    batch_date date not null,
    lead_key integer not null,
    event_date date not null,
    triple_id integer not null
);

-- scoring.keyed_event_batches: one row per batch of core.events already in scoring.keyed_events, with
-- its event count and a checksum of the columns keying reads (m.rows_checksum), so a full rebuild keys
-- again only the batches whose events changed since
create table if not exists scoring.keyed_event_batches (
    _batch_id text primary key,
    events integer not null
);

-- added after the first release: a batch keyed before has no checksum, and the next full rebuild keys it again
alter table scoring.keyed_event_batches add column if not exists checksum bigint;

-- PostgreSQL: a night's scoring and an intraday run read scoring.keyed_events for a few days (the new batch,
-- the days leaving the windows, late events' days: rule_state.sql, lead_activity.sql; docs/adr/0019) through
-- block-range indexes, which cost next to nothing to keep. Batches are appended in order and each is
-- inserted sorted by its events' day (keyed_events.sql), so a day's events sit in a few block ranges even
-- in the first night's batch of every earlier day. Ranges are summarised as the night keys them and as
-- they fill (autosummarize). A warehouse keyed before that order is read correctly but more slowly until
-- `leadflow rescore --full --rekey`.
{{ m.postgres_index('keyed_events_batch_brin', 'scoring.keyed_events', 'batch_date', using='brin', options='autosummarize = on') }}
{{ m.postgres_index('keyed_events_day_brin', 'scoring.keyed_events', 'event_date', using='brin', options='autosummarize = on') }}

{{ m.postgres_index('lead_keys_lead_id_idx', 'scoring.lead_keys', 'lead_id', unique=true) }}
{{ m.postgres_index('lead_keys_lead_key_idx', 'scoring.lead_keys', 'lead_key', unique=true) }}

-- warehouses created before ADR 0006 kept a text-keyed rollup: it is derived data, so it goes, and
-- the next scoring run keys every batch of core.events (none is listed in scoring.keyed_event_batches)
drop table if exists scoring.event_daily;
drop table if exists scoring.event_daily_batches;

-- Running state (docs/adr/0015): the engagement points of every lead and rule carried from night to night.

-- scoring.state_rules: the engagement rules as the running state reads them, for the date being scored:
-- the rule's definition as a fingerprint, its epoch's anchor, and whether yesterday's state carries
create table if not exists scoring.state_rules (
    rule_key smallint not null,
    rule_id text not null,
    fingerprint text not null,
    points double precision not null,
    half_life_days double precision not null,
    window_days integer not null,
    max_per_day integer not null,
    anchor_date date not null,
    carried boolean not null
);

-- scoring.rule_state: per as-of date, lead and engagement rule with events in its window: the events
-- counted (per-day limits applied) and their points grown from the anchor date as exact fixed-point
-- (the cap and the decay to the date are applied when it is read); the last two dates are kept
create table if not exists scoring.rule_state (
    as_of_date date not null,
    lead_key integer not null,
    rule_key smallint not null,
    counted integer not null,
    weighted decimal(38, 12) not null
);

-- scoring.rule_state_runs: per as-of date and engagement rule, what its state was computed from (the
-- rule's fingerprint and key, the anchor, the batches keyed up to that date), so the next night knows
-- whether it may carry it
create table if not exists scoring.rule_state_runs (
    as_of_date date not null,
    rule_key smallint not null,
    rule_id text not null,
    fingerprint text not null,
    anchor_date date not null,
    batches text not null
);
{{ m.postgres_index('rule_state_date_brin', 'scoring.rule_state', 'as_of_date', using='brin') }}

-- scoring.lead_activity: per as-of date, the local day of each lead's latest event loaded by that night
-- (lead_scores.last_activity_date), carried from the day before like scoring.rule_state; two dates kept
create table if not exists scoring.lead_activity (
    as_of_date date not null,
    lead_key integer not null,
    last_activity_date date not null
);

-- Intraday (docs/adr/0019): the leads the intake's pushed events touched, rescored minutes after, apart
-- from the nightly ledgers.

-- scoring.intraday_leads: the leads the running intraday step rescores (a working table, one row per lead)
create table if not exists scoring.intraday_leads (
    lead_key integer not null,
    lead_id text not null
);

-- scoring.intraday_scores: one row per lead rescored intraday per local date, as lead_scores would hold it
-- for that date so far; replaced by each later intraday run, removed by the night of that date
create table if not exists scoring.intraday_scores (
    lead_id text not null,
    as_of_date date not null,
    fit_score double precision not null,
    engagement_score double precision not null,
    total_score double precision not null,
    fit_grade text not null,
    score_change_7d double precision,
    heating_up boolean not null,
    hand_raiser boolean not null,
    last_activity_date date,
    top_reasons text not null,
    rules_version text not null,
    scored_at timestamptz not null
);
