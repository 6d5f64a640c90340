-- Prototype: integer keys for a full rebuild (DuckDB only). Every table here is small except lead_keys
-- (one row per lead).

-- dense INTEGER lead_key per lead id: every lead of core.leads, then any lead only core.events knows
-- (none in the bench data, but scores must not depend on it)
create or replace table scoring.lead_keys as
select cast(row_number() over (order by lead_id) as integer) as lead_key, lead_id
from core.leads;

insert into scoring.lead_keys
select
    cast((select max(lead_key) from scoring.lead_keys) + row_number() over (order by lead_id) as integer),
    lead_id
from (
    select distinct e.lead_id
    from core.events as e
    anti join scoring.lead_keys as k on e.lead_id = k.lead_id
) as orphans;

-- the distinct (batch, event_type, url, asset) of core.events: one scan, ~60 rows per batch
create or replace temp table batch_triples as
select distinct _batch_id, event_type, url, asset from core.events;

-- batches in _batch_id order, so "batch_id <= as_of" is "batch_key <= k"
create or replace table scoring.event_batches as
select cast(row_number() over (order by _batch_id) as smallint) as batch_key, _batch_id
from (select distinct _batch_id from batch_triples) as b;

create or replace table scoring.event_triples as
select cast(row_number() over (order by event_type, url, asset) as integer) as triple_id, event_type, url, asset
from (select distinct event_type, url, asset from batch_triples) as t;

-- every rule (fit, engagement, the clamp) as a SMALLINT in rule_id order, so ordering by rule_key
-- orders by rule_id (the reasons' tie-break)
create or replace table scoring.rule_keys as
select
    cast(row_number() over (order by rule_id) as smallint) as rule_key,
    rule_id, kind, label_ja, label_en, hand_raiser, labelled
from (
    select rule_id, 'fit' as kind, label_ja, label_en, false as hand_raiser, true as labelled from scoring.fit_rules
    union all
    select rule_id, 'engagement', label_ja, label_en, hand_raiser, true from scoring.engagement_rules
    union all
    select 'score_range', 'clamp', null, null, false, false
) as r;

-- the engagement-rule match, once per distinct triple (regexes run ~60 times, not per event)
create or replace table scoring.triple_rules as
select t.triple_id, k.rule_key
from scoring.event_triples as t
inner join scoring.engagement_rules as r
    on
        t.event_type = r.event_type
        and (r.url_pattern is null or regexp_matches(t.url, r.url_pattern, 'i'))
        and (r.asset_pattern is null or regexp_matches(t.asset, r.asset_pattern, 'i'))
inner join scoring.rule_keys as k on r.rule_id = k.rule_id;
