-- scoring.score_factors: the ledger of factors, one row per lead, as-of date and matching rule, in text
-- ids: scoring.day_factors (day_factors.sql, just before) with the ids joined back, once.
-- With `leads` (the intraday step, docs/adr/0019) only the leads of scoring.intraday_leads.
delete from scoring.score_factors
where
    as_of_date = cast(:as_of_date as date)
    {%- if leads is defined and leads %}
    and {{ m.intraday_lead('lead_id', 'lead_id') }}
    {%- endif %};

insert into scoring.score_factors
select
    k.lead_id,
    cast(:as_of_date as date) as as_of_date,
    r.rule_id,
    r.kind,
    f.occurrences,
    f.points
from scoring.day_factors as f
inner join scoring.lead_keys as k on f.lead_key = k.lead_key
inner join scoring.rule_keys as r on f.rule_key = r.rule_key;

{% if not (leads is defined and leads) %}{{ m.analyze("scoring.score_factors") }};{% endif %}
