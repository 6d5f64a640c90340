-- Score calibration in one row: the cohort's night, its size, how many converted, the base rate and the
-- ROC AUC of the total score (Mann-Whitney: mean rank of converted leads, ties sharing their mean rank).
with

{{ m.calibration_cohort() }},

ranked as (
    select
        converted,
        rank() over (order by total_score)
        + (count(*) over (partition by total_score) - 1) / 2.0 as score_rank
    from cohort
),

counts as (
    select
        count(*) as leads,
        sum(converted) as converted,
        sum(case when converted = 1 then score_rank else 0 end) as positive_ranks
    from ranked
),

final as (
    select
        (select night from cohort_night) as cohort_night,
        c.leads,
        coalesce(c.converted, 0) as converted,
        cast(c.converted as double precision) / nullif(c.leads, 0) as base_rate,
        (c.positive_ranks - c.converted * (c.converted + 1) / 2.0)
        / nullif(cast(c.converted as double precision) * (c.leads - c.converted), 0) as roc_auc
    from counts as c
)

select * from final
