-- scoring.day_factors: one row per lead and matching rule for :as_of_date, with the points it adds, on
-- integer keys (docs/adr/0006): fit rules matched against core.leads, engagement read from the running
-- state of the date (rule_state.sql, docs/adr/0015). A working table: it holds the date being scored, which
-- score_factors.sql and lead_scores.sql read in the same transaction (docs/adr/0012). Created by
-- `create table as`, which PostgreSQL may run with parallel workers (never an `insert ... select`).
-- With `leads` (the intraday step, docs/adr/0019) only the leads of scoring.intraday_leads.
{% set only_leads = leads is defined and leads -%}
drop table if exists scoring.day_factors;

create {{ m.unlogged() }}table scoring.day_factors as
with

leads as (
    select
        k.lead_key,
        l.*
    from core.leads as l
    inner join scoring.lead_keys as k on l.lead_id = k.lead_id
    {%- if only_leads %}
    where {{ m.intraday_lead('k.lead_key') }}
    {%- endif %}
),

fit_rules as (
    -- an `email_domain_in` rule reads its field's domain, an attribute of its own (below)
    select
        k.rule_key,
        r.rule_id,
        r.rule_group,
        r.priority,
        case when r.operator = 'email_domain_in' then r.field || '@domain' else r.field end as field,
        r.operator,
        r.value_text,
        r.value_min,
        r.value_max,
        r.points
    from scoring.fit_rules as r
    inner join scoring.rule_keys as k on r.rule_id = k.rule_id
),

{% set text_fields = ['job_title', 'industry', 'company', 'email', 'country', 'lead_source', 'locale'] -%}
attributes as (
    -- one row per lead and field some fit rule reads: the value as text and as a number (fields no
    -- rule reads are left out: a company name, say, is nearly one per lead); a field an
    -- `email_domain_in` rule reads also as its lowercased domain, '<field>@domain' (each lead's address
    -- is its own value, its domain is shared: 95k addresses, 5.7k domains at 100k leads)
    select lead_key, 'employee_count' as field, cast(employee_count as varchar) as value_text, cast(employee_count as double precision) as value_num from leads
    where exists (select 1 from fit_rules as r where r.field = 'employee_count')
    {%- for field in text_fields %}
    union all
    select lead_key, '{{ field }}', {{ field }}, null from leads
    where exists (select 1 from fit_rules as r where r.field = '{{ field }}')
    union all
    select lead_key, '{{ field }}@domain', lower(split_part({{ field }}, '@', 2)), null from leads
    where exists (select 1 from fit_rules as r where r.field = '{{ field }}@domain')
    {%- endfor %}
),

attribute_values as (
    -- each distinct value once: rules are matched against values, not leads (a pattern read from a
    -- table is compiled per row, and a few dozen job titles stand for every lead)
    select distinct field, value_text, value_num from attributes
),

list_hits as (
    -- the values an `in` or `email_domain_in` rule finds in its list, in one join (as a correlated
    -- subquery in a `case` branch, DuckDB ran each operator's as a join over every distinct value)
    select distinct
        v.field,
        v.value_text,
        r.rule_key
    from attribute_values as v
    inner join fit_rules as r on v.field = r.field
    inner join scoring.fit_rule_values as fv
        on
            r.rule_id = fv.rule_id
            and fv.value = lower(v.value_text)
    where r.operator in ('in', 'email_domain_in')
),

value_matches as (
    select
        v.field,
        v.value_text,
        r.rule_key,
        r.rule_group,
        r.priority,
        r.points
    from attribute_values as v
    inner join fit_rules as r on v.field = r.field
    where
        case r.operator
            when 'eq' then lower(v.value_text) = lower(r.value_text)
            when 'contains' then strpos(lower(v.value_text), lower(r.value_text)) > 0
            when 'regex' then {{ m.regex_match('v.value_text', 'r.value_text') }}
            when 'is_null' then v.value_text is null
            when 'gte' then v.value_num >= r.value_min
            when 'lte' then v.value_num <= r.value_max
            when 'between' then v.value_num between r.value_min and r.value_max
            when 'not_in' then v.value_text is not null and not exists (
                select 1 from scoring.fit_rule_values as fv
                where fv.rule_id = r.rule_id and fv.value = lower(v.value_text)
            )
            else false  -- in, email_domain_in: list_hits, below
        end

    union all

    select
        h.field,
        h.value_text,
        r.rule_key,
        r.rule_group,
        r.priority,
        r.points
    from list_hits as h
    inner join fit_rules as r on h.rule_key = r.rule_key
),

fit_matches as (
    -- back from values to leads (a missing value joins as its own key, for is_null rules)
    select
        a.lead_key,
        vm.rule_key,
        vm.rule_group,
        vm.priority,
        vm.points
    from attributes as a
    inner join value_matches as vm
        on
            a.field = vm.field
            and {{ m.same_text('a.value_text', 'vm.value_text') }}
),

fit_factors as (
    -- within a rule group only the first matching rule (lowest priority number) counts
    select
        lead_key,
        rule_key,
        1 as occurrences,
        points
    from (
        select
            fit_matches.*,
            row_number() over (partition by lead_key, rule_group order by priority) as rank_in_group
        from fit_matches
    ) as ranked
    where rank_in_group = 1
),

engagement_factors as (
    -- the running state of the date (rule_state.sql), decayed from its anchor to the date and capped per rule
    select
        s.lead_key,
        s.rule_key,
        s.counted as occurrences,
        least(
            {{ m.state_points('s.weighted', 'r.anchor_date', 'cast(:as_of_date as date)', 'r.half_life_days') }},
            e.cap
        ) as points
    from scoring.rule_state as s
    inner join scoring.state_rules as r on s.rule_key = r.rule_key
    inner join scoring.engagement_rules as e on r.rule_id = e.rule_id
    where
        s.as_of_date = cast(:as_of_date as date)
        {%- if only_leads %}
        and {{ m.intraday_lead('s.lead_key') }}
        {%- endif %}
),

unclamped as (
    select lead_key, rule_key, occurrences, {{ m.round2('points') }} as points
    from fit_factors
    union all
    select lead_key, rule_key, occurrences, {{ m.round2('points') }}
    from engagement_factors
),

sums as (
    select
        lead_key,
        {{ m.round2('sum(points)') }} as raw_total
    from unclamped
    group by lead_key
),

clamp as (
    select
        sums.lead_key,
        k.rule_key,
        1 as occurrences,
        {{ m.round2('greatest(least(sums.raw_total, s.score_max), s.score_min) - sums.raw_total') }} as points
    from sums
    cross join scoring.settings as s
    inner join scoring.rule_keys as k on k.rule_id = 'score_range'
    where sums.raw_total < s.score_min or sums.raw_total > s.score_max
),

final as (
    select lead_key, rule_key, cast(occurrences as integer) as occurrences, cast(points as double precision) as points
    from unclamped
    union all
    select lead_key, rule_key, occurrences, cast(points as double precision)
    from clamp
)

select * from final;

{% if not (leads is defined and leads) %}{{ m.analyze("scoring.day_factors") }};{% endif %}
