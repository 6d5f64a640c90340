-- Factors for :as_of_date on integer keys (temp table), then written to scoring.score_factors.
create or replace temp table factors_k as
with

leads as (
    select k.lead_key, l.* from core.leads as l inner join scoring.lead_keys as k on l.lead_id = k.lead_id
),

attributes as (
    select lead_key, 'job_title' as field, job_title as value_text, cast(null as double precision) as value_num from leads
    union all
    select lead_key, 'industry', industry, null from leads
    union all
    select lead_key, 'employee_count', cast(employee_count as varchar), cast(employee_count as double precision) from leads
    union all
    select lead_key, 'company', company, null from leads
    union all
    select lead_key, 'email', email, null from leads
    union all
    select lead_key, 'country', country, null from leads
    union all
    select lead_key, 'lead_source', lead_source, null from leads
    union all
    select lead_key, 'locale', locale, null from leads
),

attribute_values as (
    select distinct field, value_text, value_num from attributes
),

value_matches as (
    select v.field, v.value_text, rk.rule_key, r.rule_group, r.priority, r.points
    from attribute_values as v
    inner join scoring.fit_rules as r on v.field = r.field
    inner join scoring.rule_keys as rk on r.rule_id = rk.rule_id
    where
        case r.operator
            when 'eq' then lower(v.value_text) = lower(r.value_text)
            when 'contains' then strpos(lower(v.value_text), lower(r.value_text)) > 0
            when 'regex' then regexp_matches(v.value_text, r.value_text, 'i')
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
    select a.lead_key, vm.rule_key, vm.rule_group, vm.priority, vm.points
    from attributes as a
    inner join value_matches as vm
        on a.field = vm.field and coalesce(a.value_text, chr(1)) = coalesce(vm.value_text, chr(1))
),

fit_factors as (
    select lead_key, rule_key, 1 as occurrences, points
    from (
        select fit_matches.*, row_number() over (partition by lead_key, rule_group order by priority) as rank_in_group
        from fit_matches
    ) as ranked
    where rank_in_group = 1
),

rules as (
    select k.rule_key, r.*
    from scoring.engagement_rules as r inner join scoring.rule_keys as k on r.rule_id = k.rule_id
),

daily as (
    -- events per lead, rule and day within the rule's window, at most max_per_day counted
    select
        d.lead_key,
        d.rule_key,
        d.event_date,
        least(sum(d.events), max(r.max_per_day)) as counted,
        max(r.points) as points,
        max(r.half_life_days) as half_life_days,
        max(r.cap) as cap
    from scoring.event_rule_daily as d
    inner join scoring.event_batches as b on d.batch_key = b.batch_key
    inner join rules as r on d.rule_key = r.rule_key
    where
        d.event_date <= cast(:as_of_date as date)
        and b._batch_id <= cast(:as_of_date as varchar)
        and date_diff('day', d.event_date, cast(:as_of_date as date)) < r.window_days
    group by d.lead_key, d.rule_key, d.event_date
),

engagement_factors as (
    select
        d.lead_key,
        d.rule_key,
        cast(sum(d.counted) as integer) as occurrences,
        least(
            sum((d.counted * d.points * power(0.5, cast(date_diff('day', d.event_date, cast(:as_of_date as date)) as double precision) / nullif(d.half_life_days, 0)))),
            max(d.cap)
        ) as points
    from daily as d
    group by d.lead_key, d.rule_key
),

unclamped as (
    select lead_key, rule_key, occurrences, cast(round(cast(points as decimal(18, 6)), 2) as double precision) as points
    from fit_factors
    union all
    select lead_key, rule_key, occurrences, cast(round(cast(points as decimal(18, 6)), 2) as double precision)
    from engagement_factors
),

sums as (
    select lead_key, round(cast(sum(points) as decimal(18, 6)), 2) as raw_total
    from unclamped
    group by lead_key
),

clamp as (
    select
        sums.lead_key,
        (select rule_key from scoring.rule_keys where rule_id = 'score_range') as rule_key,
        1 as occurrences,
        cast(round(cast(greatest(least(sums.raw_total, s.score_max), s.score_min) - sums.raw_total as decimal(18, 6)), 2) as double precision) as points
    from sums
    cross join scoring.settings as s
    where sums.raw_total < s.score_min or sums.raw_total > s.score_max
)

select lead_key, rule_key, cast(occurrences as integer) as occurrences, points from unclamped
union all
select lead_key, rule_key, occurrences, points from clamp;

delete from scoring.score_factors where as_of_date = cast(:as_of_date as date);

-- the ledger keeps text ids: joined back here, once
insert into scoring.score_factors
select k.lead_id, cast(:as_of_date as date), r.rule_id, r.kind, f.occurrences, f.points
from factors_k as f
inner join scoring.lead_keys as k on f.lead_key = k.lead_key
inner join scoring.rule_keys as r on f.rule_key = r.rule_key;
