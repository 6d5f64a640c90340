-- scoring.rule_state_runs: what the running state of :as_of_date was computed from, one row per
-- engagement rule (state_rules.sql compares it the next night); the same dates as rule_state.sql keeps.
delete from scoring.rule_state_runs
where
    as_of_date >= cast(:as_of_date as date)
    or as_of_date < {{ m.add_days('cast(:as_of_date as date)', -1) }};

insert into scoring.rule_state_runs
select
    cast(:as_of_date as date) as as_of_date,
    rule_key,
    rule_id,
    fingerprint,
    anchor_date,
    {{ m.keyed_batches_upto('cast(:as_of_date as date)') }} as batches
from scoring.state_rules;
