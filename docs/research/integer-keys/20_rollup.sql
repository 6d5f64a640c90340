-- The rollup, integer columns only: events per batch, lead, engagement rule and day. A triple that
-- matches no rule keeps rule_key null (it still counts for last_activity_date); a triple matching two
-- rules gives a row to each. (One join on the three texts to the ~60-row triple dictionary, one on the
-- lead id text to lead_keys; then grouping on integers.)
create or replace table scoring.event_rule_daily as
select
    b.batch_key,
    k.lead_key,
    tr.rule_key,
    e.event_date,
    cast(count(*) as integer) as events
from core.events as e
inner join scoring.event_batches as b on e._batch_id = b._batch_id
inner join scoring.lead_keys as k on e.lead_id = k.lead_id
inner join scoring.event_triples as t
    on
        e.event_type = t.event_type
        and e.url is not distinct from t.url
        and e.asset is not distinct from t.asset
left join scoring.triple_rules as tr on t.triple_id = tr.triple_id
group by b.batch_key, k.lead_key, tr.rule_key, e.event_date;
