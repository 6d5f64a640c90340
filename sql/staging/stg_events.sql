-- core.events: one row per event of batch :batch_id, resolved to a lead by crm_id, else by email. An
-- event stamped after the as-of day is held (ops.held_events) and staged by the night of its own day.
-- (the events leadflow_intake applied into this batch, listed in ops.inbox_events, stay: no file holds them)
delete from core.events
where
    _batch_id = :batch_id
    and not exists (select 1 from ops.inbox_events as i where i.event_id = core.events.event_id);

{% if dialect == 'postgres' -%}
-- hash joins are right for a whole batch against every lead (with an anti-join against core.events in
-- this statement, PostgreSQL once expected one row and looped over every lead's email for each event:
-- minutes at a million leads)
set local enable_nestloop = off;
{%- endif %}

insert into core.events
with

{% set event_columns %}event_id, crm_id, email, event_type, occurred_at, url, properties, _file, _row{% endset -%}
batch as not materialized (
    select {{ event_columns }}
    from raw.web_events as r
    where
        r._batch_id = :batch_id
        and not exists (
            select 1
            from ops.quarantine as q
            where q.source = 'web' and q._file = r._file and q._row = r._row
        )
    union all
    -- events an earlier batch held for a later night, due by this one (the insert skips those an
    -- earlier night staged already)
    select {{ event_columns }}
    from ops.held_events as h
    where h.batch_id < :batch_id and h.due_date <= cast(:as_of_date as date)
),

{% set typed_columns -%}
        trim(event_id) as event_id,
        {{ m.clean_text('crm_id') }} as crm_id,
        lower({{ m.clean_text('email') }}) as email,
        lower(trim(event_type)) as event_type,
        cast(trim(occurred_at) as timestamptz) as occurred_at,
        {{ m.clean_text('url') }} as url,
        {{ m.json_text('properties', 'asset') }} as asset
{%- endset %}
{% if dialect == 'duckdb' -%}
-- DuckDB runs DISTINCT ON over every column as an ordered "first row" aggregate that keeps each row's
-- texts in memory and cannot spill (48M events did not fit its cap): count rows per id instead (a
-- grouping that spills) and sort only the ids the batch repeats
repeated as (
    select trim(event_id) as event_id
    from batch
    group by trim(event_id)
    having count(*) > 1
),

first_copies as (
    -- where the first copy of each repeated id is, in file order
    select distinct on (trim(b.event_id))
        b._file,
        b._row
    from batch as b
    inner join repeated as r on trim(b.event_id) = r.event_id
    order by trim(b.event_id), b._file, b._row
),

kept as (
    -- every row of an id the batch holds once, and the first copy of each repeated one
    select b.*
    from batch as b
    where not exists (select 1 from repeated as r where r.event_id = trim(b.event_id))
    union all
    select b.*
    from batch as b
    inner join first_copies as f on b._file = f._file and b._row = f._row
),

typed as (
    select
        {{ typed_columns }}
    from kept
),
{%- else -%}
-- PostgreSQL sorts for DISTINCT ON and spills the sort to disk: one pass over the batch (counting ids
-- as DuckDB does reads the batch four times, and took 1.8x as long for 1.9M events)
typed as (
    -- the first copy of each event_id in file order
    select distinct on (trim(event_id))
        {{ typed_columns }}
    from batch
    order by trim(event_id), _file, _row
),
{%- endif %}

email_owner as (
    select
        email,
        min(lead_id) as lead_id
    from core.leads
    where email is not null
    group by email
),

resolved as (
    select
        typed.*,
        coalesce(by_crm.lead_id, by_email.lead_id) as lead_id
    from typed
    left join core.leads as by_crm on typed.crm_id = by_crm.crm_id
    left join email_owner as by_email on typed.email = by_email.email
),

final as (
    select
        event_id,
        lead_id,
        event_type,
        occurred_at,
        {{ m.local_date('occurred_at', ':timezone') }} as event_date,
        url,
        asset,
        :batch_id as _batch_id
    from resolved
    where
        lead_id is not null
        -- after the as-of day: held for its own night, never scored early
        and {{ m.local_date('occurred_at', ':timezone') }} <= cast(:as_of_date as date)
        {%- if dialect == 'duckdb' %}
        and not exists (select 1 from core.events as e where e.event_id = resolved.event_id)
        {%- endif %}
)

select * from final
{%- if dialect == 'postgres' %}
-- an event another batch holds is kept as it was: looked up in the primary key for each of the
-- night's events, where an anti-join read and hashed every event ever staged (4 s of 7 s at 4.7M)
on conflict (event_id) do nothing
{%- endif %};

{{ m.analyze("core.events") }};
