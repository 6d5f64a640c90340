-- core.events: one row per event of batch :batch_id, resolved to a lead by crm_id, else by email.
delete from core.events where _batch_id = :batch_id;

{% if dialect == 'postgres' -%}
-- after the anti-join with core.events PostgreSQL expects one row and loops over every lead's email
-- for each event (minutes at a million leads); hash joins are right for a whole batch
set local enable_nestloop = off;
{%- endif %}

insert into core.events
with

batch as not materialized (
    select r.*
    from raw.web_events as r
    where
        r._batch_id = :batch_id
        and not exists (
            select 1
            from ops.quarantine as q
            where q.source = 'web' and q._file = r._file and q._row = r._row
        )
),

repeated as (
    -- event ids more than one row of the batch carries: a count per id, which spills to disk when
    -- large (a DISTINCT ON over every row held each row's texts in memory: 48M events did not fit)
    select trim(event_id) as event_id
    from batch
    group by trim(event_id)
    having count(*) > 1
),

first_copies as (
    -- where the first copy of each repeated id is, in file order (only the repeated ids are sorted)
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
        trim(event_id) as event_id,
        {{ m.clean_text('crm_id') }} as crm_id,
        lower({{ m.clean_text('email') }}) as email,
        lower(trim(event_type)) as event_type,
        cast(trim(occurred_at) as timestamptz) as occurred_at,
        {{ m.clean_text('url') }} as url,
        {{ m.json_text('properties', 'asset') }} as asset
    from kept
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

{{ m.analyze("core.events") }};
