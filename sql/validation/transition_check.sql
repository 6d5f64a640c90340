-- ops.transition_check: one row per stage change and date, naming its edge when the lifecycle does not allow it.
create or replace view ops.transition_check as
with

transitions as (
    select * from lifecycle.stage_transitions
),

allowed as (
    select * from lifecycle.allowed_transitions
),

final as (
    select
        t.lead_id,
        t.as_of_date,
        t.from_stage,
        t.to_stage,
        case
            when t.from_stage is not null and a.to_stage is null then t.from_stage || '→' || t.to_stage
        end as disallowed_edge,
        case when t.to_stage = 'hot' then 1 else 0 end as enters_hot
    from transitions as t
    left join allowed as a
        on t.from_stage = a.from_stage and t.to_stage = a.to_stage
)

select * from final
