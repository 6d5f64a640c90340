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

{% if dialect == 'postgres' -%}
-- warehouses created before the ledgers lost their keys
alter table scoring.score_factors drop constraint if exists score_factors_pkey;
alter table scoring.lead_scores drop constraint if exists lead_scores_pkey;
create index if not exists score_factors_date_brin on scoring.score_factors using brin (as_of_date);
create index if not exists lead_scores_date_brin on scoring.lead_scores using brin (as_of_date);
{%- endif %}

-- rules added after the first release: a warehouse created earlier gains the column here
alter table scoring.engagement_rules add column if not exists asset_pattern text;

-- scoring.event_daily: events per loading batch, lead, local day, type, url and asset (the rollup the
-- engagement factors read, so a night's work grows with new events, not with all history)
create table if not exists scoring.event_daily (
    _batch_id text not null,
    lead_id text not null,
    event_date date not null,
    event_type text not null,
    url text,
    asset text,
    events integer not null
);

-- scoring.event_daily_batches: one row per batch of core.events already folded into scoring.event_daily
create table if not exists scoring.event_daily_batches (
    _batch_id text primary key,
    events integer not null
);
