-- Conversion between stages: one row per stage a lead entered from :start_date to :as_of, with how many
-- entries, how many of them moved on to the next funnel stage (cold -> warm -> hot -> sales_qualified ->
-- customer) by :as_of, the rate, and the median days spent in the stage by the stays that have ended.
with

entries as (
    select
        t.lead_id,
        t.to_stage as stage,
        t.as_of_date as entered_on,
        lead(t.to_stage) over (partition by t.lead_id order by t.as_of_date) as next_stage,
        lead(t.as_of_date) over (partition by t.lead_id order by t.as_of_date) as left_on
    from lifecycle.stage_transitions as t
    where t.as_of_date <= cast(:as_of as date)
),

funnel (stage, next_stage, position) as (
    values
        ('cold', 'warm', 1),
        ('warm', 'hot', 2),
        ('hot', 'sales_qualified', 3),
        ('sales_qualified', 'customer', 4)
),

in_window as (
    select e.*
    from entries as e
    where e.entered_on >= cast(:start_date as date)
),

-- a lead skipping a stage (cold -> hot on a hand-raise) still counts as having moved on from cold
moved as (
    select
        w.stage,
        w.lead_id,
        w.entered_on,
        w.left_on,
        w.next_stage,
        f.position,
        case when w.next_stage in (
            select g.stage from funnel as g where g.position > f.position
            union all
            select 'customer'
        ) then 1 else 0 end as moved_on
    from in_window as w
    inner join funnel as f on w.stage = f.stage
),

final as (
    select
        stage,
        min(position) as position,
        count(*) as entered,
        sum(moved_on) as moved_on,
        cast(sum(moved_on) as double precision) / count(*) as rate,
        {{ m.median(m.days_between('entered_on', 'left_on')) }} as median_days
    from moved
    group by stage
)

select * from final
order by position
