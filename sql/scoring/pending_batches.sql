-- The batches of core.events that keyed_events.sql keys: the run's own batch (the as-of date, keyed again
-- on a rerun) and every batch not keyed yet; with `full` set, every batch whose events differ from what
-- was keyed (count or checksum of the columns keying reads, in core.events or in scoring.keyed_events)
-- and every keyed batch core.events no longer holds; with `rekey` set too, every batch. Read by Python
-- and bound as a list, so PostgreSQL plans each statement over core.events with the batch ids themselves.
{% if full is defined and full and rekey is defined and rekey -%}
-- every batch (`leadflow rescore --full --rekey`): those of core.events, and any keyed one it no longer holds
{{ m.distinct_values('core.events', '_batch_id') }}
union
select _batch_id from scoring.keyed_event_batches
union
select distinct cast(batch_date as varchar) from scoring.keyed_events
{%- elif full is defined and full -%}
with

event_batches as (
    select
        _batch_id,
        count(*) as events,
        {{ m.keying_checksum('') }} as checksum
    from core.events
    group by _batch_id
),

keyed_rows as (
    -- what scoring.keyed_events holds per batch (a row deleted or added there out of band shows here)
    select
        batch_date,
        count(*) as events
    from scoring.keyed_events
    group by batch_date
),

changed as (
    select e._batch_id
    from event_batches as e
    left join scoring.keyed_event_batches as b on e._batch_id = b._batch_id
    left join keyed_rows as k on cast(e._batch_id as date) = k.batch_date
    where
        b._batch_id is null
        or b.events <> e.events
        or b.checksum is null
        or b.checksum <> e.checksum
        or k.events is null
        or k.events <> e.events
),

gone as (
    -- keyed batches (listed, or with keyed rows only) whose events are no longer in core.events
    select b._batch_id
    from scoring.keyed_event_batches as b
    where not exists (select 1 from event_batches as e where e._batch_id = b._batch_id)
    union
    select cast(k.batch_date as varchar)
    from keyed_rows as k
    where not exists (select 1 from event_batches as e where cast(e._batch_id as date) = k.batch_date)
),

final as (
    select _batch_id from changed
    union
    select _batch_id from gone
)

select _batch_id from final
{%- else -%}
{{ m.distinct_values('core.events', '_batch_id') }}
except
select _batch_id from scoring.keyed_event_batches where _batch_id <> cast(:as_of_date as varchar)
{%- endif %}
