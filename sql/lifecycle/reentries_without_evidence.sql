-- A read-only check, no table: every move up out of a recycle (recycled → warm or hot, and warm → hot
-- after one) of :as_of_date (null: of all history) with no event of the lead dated after that recycle
-- among the batches its night saw. The lifecycle must never record one (leadflow.lifecycle).
with

transitions as (
    select *
    from lifecycle.stage_transitions
    where cast(:as_of_date as date) is null or as_of_date = cast(:as_of_date as date)
),

moves_up as (
    select
        t.lead_id,
        t.as_of_date,
        t.from_stage,
        t.to_stage,
        (
            select max(r.as_of_date)
            from lifecycle.stage_transitions as r
            where r.lead_id = t.lead_id and r.to_stage = 'recycled' and r.as_of_date < t.as_of_date
        ) as recycled_on
    from transitions as t
    where t.from_stage in ('recycled', 'warm') and t.to_stage in ('warm', 'hot')
),

final as (
    select
        mu.lead_id,
        mu.as_of_date,
        mu.from_stage,
        mu.to_stage,
        mu.recycled_on
    from moves_up as mu
    where
        mu.recycled_on is not null
        and not exists (
            select 1
            from scoring.keyed_events as e
            inner join scoring.lead_keys as k on e.lead_key = k.lead_key
            where
                k.lead_id = mu.lead_id
                and e.event_date > mu.recycled_on
                and e.event_date <= mu.as_of_date
                and e.batch_date <= mu.as_of_date
        )
)

select * from final
order by lead_id, as_of_date
