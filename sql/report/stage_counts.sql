-- Leads per stage over time: one row per night scored from :start_date to :as_of and stage, with the leads
-- in that stage that night (each lead's latest transition on or before it).
with

nights as (
    select distinct as_of_date as night
    from scoring.lead_scores
    where as_of_date between cast(:start_date as date) and cast(:as_of as date)
),

latest as (
    select
        n.night,
        t.lead_id,
        t.to_stage,
        row_number() over (partition by n.night, t.lead_id order by t.as_of_date desc) as latest
    from nights as n
    inner join lifecycle.stage_transitions as t on n.night >= t.as_of_date
),

final as (
    select
        night,
        to_stage as stage,
        count(*) as leads
    from latest
    where latest = 1
    group by night, to_stage
)

select * from final
order by night, stage
