-- scoring.event_daily: refreshed for the run's own batch (:as_of_date, so a rerun re-rolls it) and
-- for every batch of core.events not rolled up yet; with `full` set, rebuilt from all of core.events.
{% if full is defined and full -%}
delete from scoring.event_daily_batches;
{%- else -%}
delete from scoring.event_daily_batches where _batch_id = cast(:as_of_date as varchar);
{%- endif %}

delete from scoring.event_daily
where _batch_id not in (select _batch_id from scoring.event_daily_batches);

insert into scoring.event_daily
with

pending as (
    select _batch_id from core.events group by _batch_id
    except
    select _batch_id from scoring.event_daily_batches
),

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

final as (
    select
        d._batch_id,
        cast(sum(d.events) as integer) as events
    from scoring.event_daily as d
    where d._batch_id not in (select _batch_id from scoring.event_daily_batches)
    group by d._batch_id
)

select * from final;

{{ m.analyze("scoring.event_daily") }};
