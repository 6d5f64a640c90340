-- scoring.lead_scores: one row per lead per as-of date: fit, engagement, total, grade, trend, reasons.
delete from scoring.lead_scores where as_of_date = cast(:as_of_date as date);

insert into scoring.lead_scores
with

settings as (
    select * from scoring.settings
),

factors as (
    select *
    from scoring.score_factors
    where as_of_date = cast(:as_of_date as date)
),

labels as (
    select rule_id, label_ja, label_en, false as hand_raiser from scoring.fit_rules
    union all
    select rule_id, label_ja, label_en, hand_raiser from scoring.engagement_rules
),

totals as (
    select
        l.lead_id,
        -- factors carry two decimals; rounding the sums makes them independent of summation order
        {{ m.round2("coalesce(sum(case when f.kind = 'fit' then f.points end), 0)") }} as fit_score,
        {{ m.round2("coalesce(sum(case when f.kind = 'engagement' then f.points end), 0)") }} as engagement_score,
        {{ m.round2('coalesce(sum(f.points), 0)') }} as total_score,
        coalesce(max(case when lb.hand_raiser then 1 else 0 end), 0) = 1 as hand_raiser
    from core.leads as l
    left join factors as f on l.lead_id = f.lead_id
    left join labels as lb on f.rule_id = lb.rule_id
    group by l.lead_id
),

ranked_factors as (
    -- the strength order of each lead's labelled factors, on narrow rows (the texts come after the cut)
    select
        f.lead_id,
        f.rule_id,
        f.kind,
        f.occurrences,
        f.points,
        row_number() over (partition by f.lead_id order by abs(f.points) desc, f.rule_id) as strength
    from factors as f
    inner join labels as lb on f.rule_id = lb.rule_id
    where round(f.points) <> 0
),

reason_parts as (
    select
        rf.lead_id,
        rf.strength,
        case when l.locale = 'ja' then lb.label_ja else lb.label_en end
        || case
            when rf.kind = 'engagement' and rf.occurrences > 1 and l.locale = 'ja'
                then ' ' || cast(rf.occurrences as varchar) || '回'
            when rf.kind = 'engagement' and rf.occurrences > 1 then ' x' || cast(rf.occurrences as varchar)
            else ''
        end
        || ' (' || case when rf.points >= 0 then '+' else '' end
        || cast(cast(round(rf.points) as integer) as varchar) || ')' as reason
    from ranked_factors as rf
    cross join settings as s
    inner join labels as lb on rf.rule_id = lb.rule_id
    inner join core.leads as l on rf.lead_id = l.lead_id
    where rf.strength <= s.top_reasons
),

reasons as (
    select
        lead_id,
        string_agg(reason, ' / ' order by strength) as top_reasons
    from reason_parts
    group by lead_id
),

last_activity as (
    -- from the daily rollup, with the same batches the factors saw (see score_factors.sql)
    select
        lead_id,
        max(event_date) as last_activity_date
    from scoring.event_daily
    where
        event_date <= cast(:as_of_date as date)
        and _batch_id <= cast(:as_of_date as varchar)
    group by lead_id
),

week_ago as (
    select lead_id, total_score
    from scoring.lead_scores
    where as_of_date = {{ m.add_days('cast(:as_of_date as date)', -7) }}
),

final as (
    select
        t.lead_id,
        cast(:as_of_date as date) as as_of_date,
        t.fit_score,
        t.engagement_score,
        t.total_score,
        case
            when t.fit_score >= s.grade_a then 'A'
            when t.fit_score >= s.grade_b then 'B'
            when t.fit_score >= s.grade_c then 'C'
            else 'D'
        end as fit_grade,
        t.total_score - w.total_score as score_change_7d,
        coalesce(t.total_score - w.total_score >= s.heating_up_delta, false) as heating_up,
        t.hand_raiser,
        la.last_activity_date,
        coalesce(r.top_reasons, '') as top_reasons,
        s.rules_version
    from totals as t
    cross join settings as s
    left join reasons as r on t.lead_id = r.lead_id
    left join last_activity as la on t.lead_id = la.lead_id
    left join week_ago as w on t.lead_id = w.lead_id
)

select * from final;
