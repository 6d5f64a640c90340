-- core.events: one row per event of batch :batch_id, resolved to a lead by crm_id, else by email. An
-- event stamped after the as-of day is held (ops.held_events) and staged by the night of its own day.
-- (the events leadflow_intake applied into this batch, listed in ops.inbox_events, stay: no file holds them)
delete from core.events
where
    _batch_id = :batch_id
    and not exists (select 1 from ops.inbox_events as i where i.event_id = core.events.event_id);

-- hash joins are right for a whole batch against every lead (with an anti-join against core.events in
-- this statement, PostgreSQL once expected one row and looped over every lead's email for each event:
-- minutes at a million leads)
{{ m.hash_joins_only() }}

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
{{ m.first_event_copies(typed_columns) }}

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
        {{ m.skip_known_events('resolved.event_id', 'typed') }}
)

select * from final
-- in key order on PostgreSQL: each leaf page of the primary key (every event ever staged) is then read
-- and dirtied once, not again for every event that lands on it after it left the buffer cache
{{ m.postgres_order_by('event_id') }}
-- an event another batch holds is kept as it was
{{ m.keep_known_events() }};

{{ m.analyze("core.events") }};
