-- The report's headline figures for :as_of: leads scored, leads per funnel stage that night, new hot leads
-- and new sales_qualified leads in the last 7 days, and the mean total score.
with

{{ m.stage_on('night', 'cast(:as_of as date)') }},

scored as (
    select
        count(*) as leads,
        avg(total_score) as mean_score
    from scoring.lead_scores
    where as_of_date = cast(:as_of as date)
),

stages as (
    select
        sum(case when stage = 'hot' then 1 else 0 end) as hot,
        sum(case when stage = 'sales_qualified' then 1 else 0 end) as sales_qualified,
        sum(case when stage = 'customer' then 1 else 0 end) as customer
    from stage_on_night
),

recent as (
    select
        sum(case when to_stage = 'hot' then 1 else 0 end) as new_hot_7d,
        sum(case when to_stage = 'sales_qualified' then 1 else 0 end) as new_sql_7d
    from lifecycle.stage_transitions
    where as_of_date > {{ m.add_days('cast(:as_of as date)', -7) }} and as_of_date <= cast(:as_of as date)
),

final as (
    select
        sc.leads,
        sc.mean_score,
        coalesce(st.hot, 0) as hot,
        coalesce(st.sales_qualified, 0) as sales_qualified,
        coalesce(st.customer, 0) as customer,
        coalesce(r.new_hot_7d, 0) as new_hot_7d,
        coalesce(r.new_sql_7d, 0) as new_sql_7d
    from scored as sc
    cross join stages as st
    cross join recent as r
)

select * from final
