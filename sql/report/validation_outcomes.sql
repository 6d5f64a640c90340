-- Validation outcomes over time: one row per night (the batch's as-of date; recorded_at's local date in
-- :timezone otherwise) from :start_date to :as_of and validation, with how many runs passed and failed.
with

results as (
    select
        {{ m.batch_date('batch_id', 'recorded_at') }} as day,
        validation,
        success
    from ops.validation_results
),

final as (
    select
        day,
        validation,
        sum(case when success then 1 else 0 end) as passed,
        sum(case when success then 0 else 1 end) as failed
    from results
    where day between cast(:start_date as date) and cast(:as_of as date)
    group by day, validation
)

select * from final
order by day, validation
