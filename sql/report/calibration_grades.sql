-- Score calibration by fit grade: one row per grade (A-D) of the leads scored near :cohort_date, with how
-- many reached sales_qualified or customer by :as_of, the rate, its 95 % Wilson interval and the lift.
with

{{ m.calibration_cohort() }},

base as (
    select cast(sum(converted) as double precision) / nullif(count(*), 0) as base_rate
    from cohort
),

grouped as (
    select
        fit_grade,
        count(*) as leads,
        sum(converted) as converted
    from cohort
    group by fit_grade
),

final as (
    {{ m.conversion_rates('g', 'fit_grade') }}
)

select * from final
order by fit_grade
