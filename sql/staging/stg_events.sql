-- core.events: one row per event of batch :batch_id, resolved to a lead by crm_id, else by email.
-- A large batch is staged in `slices` parts by a hash of event_id (each copy of an event falls in the
-- same part), so the dedupe holds one part at a time in memory; all parts commit together.
{% set slices = slices | default(1) -%}
delete from core.events where _batch_id = :batch_id;

{% if dialect == 'postgres' -%}
-- after the anti-join with core.events PostgreSQL expects one row and loops over every lead's email
-- for each event (minutes at a million leads); hash joins are right for a whole batch
set local enable_nestloop = off;
{%- endif %}
{% for part in range(slices) %}
insert into core.events
with

batch as (
    select r.*
    from raw.web_events as r
    where
        r._batch_id = :batch_id
        and not exists (
            select 1
            from ops.quarantine as q
            where q.source = 'web' and q._file = r._file and q._row = r._row
        )
        {%- if slices > 1 %}
        and {{ m.slice_of('trim(r.event_id)', slices) }} = {{ part }}
        {%- endif %}
),

typed as (
    -- the first copy of each event_id in file order (DISTINCT ON: a grouping, not a window over the batch)
    select distinct on (trim(event_id))
        trim(event_id) as event_id,
        {{ m.clean_text('crm_id') }} as crm_id,
        lower({{ m.clean_text('email') }}) as email,
        lower(trim(event_type)) as event_type,
        cast(trim(occurred_at) as timestamptz) as occurred_at,
        {{ m.clean_text('url') }} as url,
        {{ m.json_text('properties', 'asset') }} as asset
    from batch
    order by trim(event_id), _file, _row
),

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
        and not exists (select 1 from core.events as e where e.event_id = resolved.event_id)
)

select * from final;
{% endfor %}
{{ m.analyze("core.events") }};
