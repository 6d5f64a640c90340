-- The local days whose term in a carried rule's running state may differ from the day before's
-- (rule_state.sql, docs/adr/0015): the new day, the day leaving each carried rule's window, and every
-- day tonight's batch brought events for (late events adjust their own day). Read by Python after
-- state_rules.sql and bound as a list (:changed_days), so PostgreSQL reads scoring.keyed_events through
-- its date indexes for those days only, not every event in every window.
{% set as_of = 'cast(:as_of_date as date)' -%}
with

carried as (
    select window_days
    from scoring.state_rules
    where carried
),

days as (
    select distinct event_date as changed_day
    from scoring.keyed_events
    where
        batch_date = {{ as_of }}
        and event_date <= {{ as_of }}
    union
    select {{ as_of }}
    union
    select {{ m.add_days(as_of, '-window_days') }}
    from carried
),

final as (
    select cast(changed_day as varchar) as changed_day
    from days
    where exists (select 1 from carried)
)

select changed_day from final order by changed_day
