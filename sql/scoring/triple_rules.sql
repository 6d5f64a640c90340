-- scoring.triple_rules: which engagement rule each triple counts for; rebuilt after rule_keys.sql.
-- The engagement rules' patterns are matched once per triple (a pattern read from a table is compiled per
-- row, and a few dozen triples stand for every event)
delete from scoring.triple_rules;

insert into scoring.triple_rules
select
    t.triple_id,
    k.rule_key
from scoring.event_triples as t
inner join scoring.engagement_rules as r
    on
        t.event_type = r.event_type
        and (r.url_pattern is null or {{ m.regex_match('t.url', 'r.url_pattern') }})
        and (r.asset_pattern is null or {{ m.regex_match('t.asset', 'r.asset_pattern') }})
inner join scoring.rule_keys as k on r.rule_id = k.rule_id;
