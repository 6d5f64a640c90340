-- The first local day any rule computed from its days reads (rule_state.sql: the rules whose state of
-- the day before does not carry, state_rules.sql), or null when every rule carries. Read by Python
-- and bound as :computed_from, so those reads of scoring.keyed_events start at that day.
{% set as_of = 'cast(:as_of_date as date)' -%}
select cast(min({{ m.add_days(as_of, '1 - window_days') }}) as varchar)
from scoring.state_rules
where not carried
