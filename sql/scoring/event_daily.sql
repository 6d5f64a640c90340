-- scoring.event_daily: refreshed for the run's own batch (:as_of_date, so a rerun re-rolls it) and
-- for every batch of core.events not rolled up yet; with `full` set, rebuilt from all of core.events.
-- Both tables change in one transaction, so the rollup holds exactly the batches listed as folded in.
{% if full is defined and full -%}
delete from scoring.event_daily_batches;

delete from scoring.event_daily;
{%- else -%}
delete from scoring.event_daily_batches where _batch_id = cast(:as_of_date as varchar);

delete from scoring.event_daily where _batch_id = cast(:as_of_date as varchar);
{%- endif %}

{% set pending -%}
pending as (
    -- batches in core.events not folded in yet (a walk over the batch index, not a scan of every event)
    {{ m.pending_batches('core.events', 'scoring.event_daily_batches') }}
)
{%- endset %}

insert into scoring.event_daily
with

{{ pending }},

final as (
    select
        e._batch_id,
        e.lead_id,
        e.event_date,
        e.event_type,
        e.url,
        e.asset,
        cast(count(*) as integer) as events
    from core.events as e
    inner join pending as p on e._batch_id = p._batch_id
    group by e._batch_id, e.lead_id, e.event_date, e.event_type, e.url, e.asset
)

select * from final;

insert into scoring.event_daily_batches
with

{{ pending }},

final as (
    select
        e._batch_id,
        cast(count(*) as integer) as events
    from core.events as e
    inner join pending as p on e._batch_id = p._batch_id
    group by e._batch_id
)

select * from final;

{{ m.analyze("scoring.event_daily") }};
