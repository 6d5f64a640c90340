-- Variant: the rollup does not compress (4.08M rows from 4.67M events at 100k x 50), so skip the
-- grouping and keep integer event facts (batch, lead, rule, day, events = 1); the daily step groups
-- the in-window rows anyway.
create or replace table scoring.event_rule_daily as
select
    b.batch_key,
    k.lead_key,
    tr.rule_key,
    e.event_date,
    1 as events
from core.events as e
inner join scoring.event_batches as b on e._batch_id = b._batch_id
inner join scoring.lead_keys as k on e.lead_id = k.lead_id
inner join scoring.event_triples as t
    on
        e.event_type = t.event_type
        and e.url is not distinct from t.url
        and e.asset is not distinct from t.asset
left join scoring.triple_rules as tr on t.triple_id = tr.triple_id;
