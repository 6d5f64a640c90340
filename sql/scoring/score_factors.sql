-- scoring.score_factors: one row per lead, as-of date and matching rule, with the points it adds.
-- First bring the daily event rollup up to date (incremental; see docs/adr/0002).
{% if refresh_rollup | default(true) %}{% include 'scoring/event_daily.sql' %}{% endif %}

delete from scoring.score_factors where as_of_date = cast(:as_of_date as date);

insert into scoring.score_factors
with

leads as (
    select * from core.leads
),

fit_rules as (
    select * from scoring.fit_rules
),

attributes as (
    -- one row per lead and rule field: the value as text and as a number
    select lead_id, 'job_title' as field, job_title as value_text, cast(null as double precision) as value_num from leads
    union all
    select lead_id, 'industry', industry, null from leads
    union all
    select lead_id, 'employee_count', cast(employee_count as varchar), cast(employee_count as double precision) from leads
    union all
    select lead_id, 'company', company, null from leads
    union all
    select lead_id, 'email', email, null from leads
    union all
    select lead_id, 'country', country, null from leads
    union all
    select lead_id, 'lead_source', lead_source, null from leads
    union all
    select lead_id, 'locale', locale, null from leads
),

attribute_values as (
    -- each distinct value once: rules are matched against values, not leads (a pattern read from a
    -- table is compiled per row, and a few dozen job titles stand for every lead)
    select distinct field, value_text, value_num from attributes
),

value_matches as (
    select
        v.field,
        v.value_text,
        r.rule_id,
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
            when 'in' then exists (
                select 1 from scoring.fit_rule_values as fv
                where fv.rule_id = r.rule_id and fv.value = lower(v.value_text)
            )
            when 'not_in' then v.value_text is not null and not exists (
                select 1 from scoring.fit_rule_values as fv
                where fv.rule_id = r.rule_id and fv.value = lower(v.value_text)
            )
            when 'email_domain_in' then exists (
                select 1 from scoring.fit_rule_values as fv
                where fv.rule_id = r.rule_id and fv.value = lower(split_part(v.value_text, '@', 2))
            )
            else false
        end
),

fit_matches as (
    -- back from values to leads (a missing value joins as its own key, for is_null rules)
    select
        a.lead_id,
        vm.rule_id,
        vm.rule_group,
        vm.priority,
        vm.points
    from attributes as a
    inner join value_matches as vm
        on
            a.field = vm.field
            and coalesce(a.value_text, {{ m.null_key() }}) = coalesce(vm.value_text, {{ m.null_key() }})
),

fit_factors as (
    -- within a rule group only the first matching rule (lowest priority number) counts
    select
        lead_id,
        rule_id,
        'fit' as kind,
        1 as occurrences,
        points
    from (
        select
            fit_matches.*,
            row_number() over (partition by lead_id, rule_group order by priority) as rank_in_group
        from fit_matches
    ) as ranked
    where rank_in_group = 1
),

events_in_scope as (
    -- the daily rollup, not raw events: one row per lead, day, type, url and asset; only batches
    -- loaded by this date's run or earlier (batch ids are ISO dates), so a rescore of a past date
    -- sees what its night saw, and a full rebuild reproduces every night exactly
    select
        d.lead_id,
        d.event_type,
        d.url,
        d.asset,
        d.event_date,
        d.events
    from scoring.event_daily as d
    where
        d.event_date <= cast(:as_of_date as date)
        and d._batch_id <= cast(:as_of_date as varchar)
),

daily as (
    -- events per lead, rule and day, at most max_per_day counted (anti-gaming)
    select
        ev.lead_id,
        r.rule_id,
        ev.event_date,
        least(sum(ev.events), max(r.max_per_day)) as counted,
        max(r.points) as points,
        max(r.half_life_days) as half_life_days,
        max(r.cap) as cap
    from events_in_scope as ev
    inner join scoring.engagement_rules as r
        on
            ev.event_type = r.event_type
            and (r.url_pattern is null or {{ m.regex_match('ev.url', 'r.url_pattern') }})
            and (r.asset_pattern is null or {{ m.regex_match('ev.asset', 'r.asset_pattern') }})
            and {{ m.days_between('ev.event_date', 'cast(:as_of_date as date)') }} < r.window_days
    group by ev.lead_id, r.rule_id, ev.event_date
),

engagement_factors as (
    select
        d.lead_id,
        d.rule_id,
        'engagement' as kind,
        cast(sum(d.counted) as integer) as occurrences,
        least(
            sum(
                {{ m.decay('d.counted * d.points', m.days_between('d.event_date', 'cast(:as_of_date as date)'), 'd.half_life_days') }}
            ),
            max(d.cap)
        ) as points
    from daily as d
    group by d.lead_id, d.rule_id
),

final as (
    select lead_id, cast(:as_of_date as date) as as_of_date, rule_id, kind, occurrences, {{ m.round2('points') }} as points
    from fit_factors
    union all
    select lead_id, cast(:as_of_date as date), rule_id, kind, occurrences, {{ m.round2('points') }}
    from engagement_factors
)

select * from final;

-- the clamp to the score range is a factor too, so a lead's factors always add up to its total
insert into scoring.score_factors
with

sums as (
    select
        lead_id,
        {{ m.round2('sum(points)') }} as raw_total
    from scoring.score_factors
    where as_of_date = cast(:as_of_date as date)
    group by lead_id
),

final as (
    select
        sums.lead_id,
        cast(:as_of_date as date) as as_of_date,
        'score_range' as rule_id,
        'clamp' as kind,
        1 as occurrences,
        {{ m.round2('greatest(least(sums.raw_total, s.score_max), s.score_min) - sums.raw_total') }} as points
    from sums
    cross join scoring.settings as s
    where sums.raw_total < s.score_min or sums.raw_total > s.score_max
)

select * from final;

{{ m.analyze("scoring.score_factors") }};
