-- scoring.lead_scores for :as_of_date from the integer factors; text lead ids joined at the end.
delete from scoring.lead_scores where as_of_date = cast(:as_of_date as date);

insert into scoring.lead_scores
with

settings as (
    select * from scoring.settings
),

totals as (
    select
        f.lead_key,
        round(cast(coalesce(sum(case when r.kind = 'fit' then f.points end), 0) as decimal(18, 6)), 2) as fit_score,
        round(cast(coalesce(sum(case when r.kind = 'engagement' then f.points end), 0) as decimal(18, 6)), 2) as engagement_score,
        round(cast(coalesce(sum(f.points), 0) as decimal(18, 6)), 2) as total_score,
        coalesce(max(case when r.hand_raiser then 1 else 0 end), 0) = 1 as hand_raiser
    from factors_k as f
    inner join scoring.rule_keys as r on f.rule_key = r.rule_key
    group by f.lead_key
),

ranked_factors as (
    select
        f.lead_key,
        f.rule_key,
        f.occurrences,
        f.points,
        row_number() over (partition by f.lead_key order by abs(f.points) desc, f.rule_key) as strength
    from factors_k as f
    inner join scoring.rule_keys as r on f.rule_key = r.rule_key
    where r.labelled and round(f.points) <> 0
),

reason_parts as (
    select
        rf.lead_key,
        rf.strength,
        rf.rule_key,
        rf.occurrences,
        rf.points
    from ranked_factors as rf
    cross join settings as s
    where rf.strength <= s.top_reasons
),

last_activity as (
    select d.lead_key, max(d.event_date) as last_activity_date
    from scoring.event_rule_daily as d
    inner join scoring.event_batches as b on d.batch_key = b.batch_key
    where d.event_date <= cast(:as_of_date as date) and b._batch_id <= cast(:as_of_date as varchar)
    group by d.lead_key
),

per_lead as (
    -- integer work done: one row per lead of core.leads, still keyed by lead_key
    select
        k.lead_key,
        k.lead_id,
        coalesce(t.fit_score, 0) as fit_score,
        coalesce(t.engagement_score, 0) as engagement_score,
        coalesce(t.total_score, 0) as total_score,
        coalesce(t.hand_raiser, false) as hand_raiser,
        la.last_activity_date
    from scoring.lead_keys as k
    inner join core.leads as l on k.lead_id = l.lead_id
    left join totals as t on k.lead_key = t.lead_key
    left join last_activity as la on k.lead_key = la.lead_key
),

reasons as (
    select
        rp.lead_key,
        string_agg(
            case when l.locale = 'ja' then r.label_ja else r.label_en end
            || case
                when r.kind = 'engagement' and rp.occurrences > 1 and l.locale = 'ja'
                    then ' ' || cast(rp.occurrences as varchar) || '回'
                when r.kind = 'engagement' and rp.occurrences > 1 then ' x' || cast(rp.occurrences as varchar)
                else ''
            end
            || ' (' || case when rp.points >= 0 then '+' else '' end
            || cast(cast(round(rp.points) as integer) as varchar) || ')',
            ' / ' order by rp.strength
        ) as top_reasons
    from reason_parts as rp
    inner join scoring.rule_keys as r on rp.rule_key = r.rule_key
    inner join scoring.lead_keys as k on rp.lead_key = k.lead_key
    inner join core.leads as l on k.lead_id = l.lead_id
    group by rp.lead_key
),

week_ago as (
    select lead_id, total_score
    from scoring.lead_scores
    where as_of_date = cast(cast(:as_of_date as date) - to_days(7) as date)
)

select
    p.lead_id,
    cast(:as_of_date as date) as as_of_date,
    p.fit_score,
    p.engagement_score,
    p.total_score,
    case
        when p.fit_score >= s.grade_a then 'A'
        when p.fit_score >= s.grade_b then 'B'
        when p.fit_score >= s.grade_c then 'C'
        else 'D'
    end as fit_grade,
    p.total_score - w.total_score as score_change_7d,
    coalesce(p.total_score - w.total_score >= s.heating_up_delta, false) as heating_up,
    p.hand_raiser,
    p.last_activity_date,
    coalesce(r.top_reasons, '') as top_reasons,
    s.rules_version
from per_lead as p
cross join settings as s
left join reasons as r on p.lead_key = r.lead_key
left join week_ago as w on p.lead_id = w.lead_id;
