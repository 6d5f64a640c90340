-- Stage transitions per week: one row per week (starting Monday) from :start_date to :as_of and move
-- (from -> to; a lead's first stage has from_stage 'new'), with how many leads made it.
with

moves as (
    select
        {{ m.week_start('as_of_date') }} as week,
        coalesce(from_stage, 'new') as from_stage,
        to_stage
    from lifecycle.stage_transitions
    where as_of_date between cast(:start_date as date) and cast(:as_of as date)
),

final as (
    select
        week,
        from_stage,
        to_stage,
        count(*) as transitions
    from moves
    group by week, from_stage, to_stage
)

select * from final
order by week, from_stage, to_stage
