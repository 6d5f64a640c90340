-- Score calibration by band: one row per 10-point score band (100 on its own) of the leads scored near
-- :cohort_date, with how many reached sales_qualified or customer by :as_of, the rate, its 95 % Wilson
-- interval and the lift over the cohort's base rate.
with

{{ m.calibration_cohort() }},

banded as (
    select
        converted,
        case when total_score >= 100 then 100 else cast(floor(total_score / 10) * 10 as integer) end as band_low
    from cohort
),

base as (
    select cast(sum(converted) as double precision) / nullif(count(*), 0) as base_rate
    from cohort
),

grouped as (
    select
        band_low,
        count(*) as leads,
        sum(converted) as converted
    from banded
    group by band_low
),

final as (
    {{ m.conversion_rates('g', 'band_low') }}
)

select * from final
order by band_low
