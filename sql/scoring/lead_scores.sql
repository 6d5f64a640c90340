-- scoring.lead_scores: one row per lead per as-of date: fit, engagement, total, grade, trend, reasons.
-- With `leads` (the intraday step, docs/adr/0019) only the leads of scoring.intraday_leads.
{% set only_leads = leads is defined and leads -%}
delete from scoring.lead_scores
where
    as_of_date = cast(:as_of_date as date)
    {%- if only_leads %}
    and {{ m.intraday_lead('lead_id', 'lead_id') }}
    {%- endif %};

insert into scoring.lead_scores
with

settings as (
    select * from scoring.settings
),

factors as {{ m.reread() }}(
    -- the day's factors on integer keys, from day_factors.sql in the same transaction. Read twice:
    -- PostgreSQL scans the table again faster than it keeps a copy of the join (DuckDB the other
    -- way round: ~0.7 s slower at 1M x 50 when not materialized)
    select
        f.lead_key,
        f.rule_key,
        f.occurrences,
        f.points,
        r.kind,
        r.hand_raiser,
        r.labelled
    from scoring.day_factors as f
    inner join scoring.rule_keys as r on f.rule_key = r.rule_key
),

totals as (
    select
        lead_key,
        -- factors carry two decimals; rounding the sums makes them independent of summation order
        {{ m.round2("coalesce(sum(case when kind = 'fit' then points end), 0)") }} as fit_score,
        {{ m.round2("coalesce(sum(case when kind = 'engagement' then points end), 0)") }} as engagement_score,
        {{ m.round2('coalesce(sum(points), 0)') }} as total_score,
        coalesce(max(case when hand_raiser then 1 else 0 end), 0) = 1 as hand_raiser
    from factors
    group by lead_key
),

ranked_factors as (
    -- the strength order of each lead's labelled factors (rule keys are in rule-id order)
    select
        lead_key,
        rule_key,
        kind,
        occurrences,
        points,
        row_number() over (partition by lead_key order by abs(points) desc, rule_key) as strength
    from factors
    where labelled and {{ m.round0('points') }} <> 0
),

last_activity as (
    -- the day of each lead's latest event, with the same batches the factors saw (lead_activity.sql)
    select
        lead_key,
        last_activity_date
    from scoring.lead_activity
    where as_of_date = cast(:as_of_date as date)
),

per_lead as (
    -- one row per lead of core.leads (a lead only events know has factors but no score yet)
    select
        k.lead_key,
        l.lead_id,
        coalesce(t.fit_score, 0) as fit_score,
        coalesce(t.engagement_score, 0) as engagement_score,
        coalesce(t.total_score, 0) as total_score,
        coalesce(t.hand_raiser, false) as hand_raiser,
        la.last_activity_date
    from core.leads as l
    inner join scoring.lead_keys as k on l.lead_id = k.lead_id
    left join totals as t on k.lead_key = t.lead_key
    left join last_activity as la on k.lead_key = la.lead_key
    {%- if only_leads %}
    where {{ m.intraday_lead('k.lead_key') }}
    {%- endif %}
),

top_factors as (
    -- the strongest few of each lead, cut before any text is joined (a scalar setting, so both
    -- engines filter right after ranking rather than after the joins below)
    select *
    from ranked_factors
    where strength <= (select top_reasons from scoring.settings)
),

reason_texts as (
    -- the strongest few factors as text, in the lead's language; labels are joined after the cut
    select
        rf.lead_key,
        rf.strength,
        case when l.locale = 'ja' then r.label_ja else r.label_en end
        || case
            when rf.kind = 'engagement' and rf.occurrences > 1 and l.locale = 'ja'
                then ' ' || cast(rf.occurrences as varchar) || '回'
            when rf.kind = 'engagement' and rf.occurrences > 1 then ' x' || cast(rf.occurrences as varchar)
            else ''
        end
        || ' (' || case when rf.points >= 0 then '+' else '' end
        || cast(cast({{ m.round0('rf.points') }} as integer) as varchar) || ')' as reason
    from top_factors as rf
    inner join scoring.rule_keys as r on rf.rule_key = r.rule_key
    inner join scoring.lead_keys as k on rf.lead_key = k.lead_key
    inner join core.leads as l on k.lead_id = l.lead_id
),

reasons as (
    select
        lead_key,
        {{ m.ordered_join('reason', 'strength', "' / '") }} as top_reasons
    from reason_texts
    group by lead_key
),

week_ago as (
    select lead_id, total_score
    from scoring.lead_scores
    where
        as_of_date = {{ m.add_days('cast(:as_of_date as date)', -7) }}
        {%- if only_leads %}
        and {{ m.intraday_lead('lead_id', 'lead_id') }}
        {%- endif %}
),

final as (
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
    left join week_ago as w on p.lead_id = w.lead_id
)

select * from final;
