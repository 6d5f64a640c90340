-- The score distribution on :as_of: one row per 5-point bin of total_score (the top of the range on its own,
-- `at_max`), leads in it, and whether the bin at the clamp is a spike (more than 3 % of all leads there and
-- more than twice the bin below it).
with

settings as (
    select max(score_max) as score_max from scoring.settings
),

scores as (
    select
        s.total_score,
        s.total_score >= st.score_max as at_max
    from scoring.lead_scores as s
    cross join settings as st
    where s.as_of_date = cast(:as_of as date)
),

binned as (
    select
        case when at_max then (select score_max from settings) else floor(total_score / 5) * 5 end as bin_low,
        at_max
    from scores
),

grouped as (
    select
        bin_low,
        at_max,
        count(*) as leads
    from binned
    group by bin_low, at_max
),

final as (
    select
        g.bin_low,
        g.at_max,
        g.leads,
        cast(g.leads as double precision) / sum(g.leads) over () as share,
        g.at_max
        and cast(g.leads as double precision) / sum(g.leads) over () > 0.03
        and g.leads > 2 * coalesce(lag(g.leads) over (order by g.bin_low), 0) as clamp_spike
    from grouped as g
)

select * from final
order by bin_low
