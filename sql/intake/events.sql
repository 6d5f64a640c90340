-- core.events: the opens, clicks and pushed web events of _intake_events, as batch :batch_id (the local day
-- they were applied), each event id once: an id core.events already holds (a file drop staged it first) is skipped.
insert into core.events (event_id, lead_id, event_type, occurred_at, event_date, url, asset, _batch_id)
with

typed as (
    select
        t.event_id,
        t.lead_id,
        t.event_type,
        cast(t.occurred_at as timestamptz) as occurred_at,
        t.url,
        t.asset
    from _intake_events as t
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
    from typed
    where not exists (select 1 from core.events as e where e.event_id = typed.event_id)
)

select * from final
