-- what the scores gate compares :as_of_date with: leads, the score range, the mean of the previous scored date.
with

leads as (
    select count(*) as leads from core.leads
),

score_range as (
    select
        min(score_min) as score_min,
        max(score_max) as score_max
    from scoring.settings
),

previous_date as (
    select max(as_of_date) as as_of_date
    from scoring.lead_scores
    where as_of_date < cast(:as_of_date as date)
),

previous as (
    select
        p.as_of_date,
        avg(s.total_score) as mean_total
    from previous_date as p
    left join scoring.lead_scores as s on p.as_of_date = s.as_of_date
    group by p.as_of_date
),

scored as (
    select count(*) as scored
    from scoring.lead_scores
    where as_of_date = cast(:as_of_date as date)
),

final as (
    select
        l.leads,
        sc.scored,
        r.score_min,
        r.score_max,
        p.as_of_date as previous_date,
        p.mean_total as previous_mean
    from leads as l
    cross join score_range as r
    cross join previous as p
    cross join scored as sc
)

select * from final
