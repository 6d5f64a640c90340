-- ops.score_check: one row per lead score and date, with how far its factors are from its total.
create or replace view ops.score_check as
with

scores as (
    select * from scoring.lead_scores
),

factor_totals as (
    select
        lead_id,
        as_of_date,
        sum(points) as factor_total
    from scoring.score_factors
    group by lead_id, as_of_date
),

final as (
    select
        s.lead_id,
        s.as_of_date,
        s.fit_score,
        s.engagement_score,
        s.total_score,
        s.fit_grade,
        s.top_reasons,
        s.rules_version,
        abs(s.total_score - coalesce(f.factor_total, 0)) as factor_gap
    from scores as s
    left join factor_totals as f
        on s.lead_id = f.lead_id and s.as_of_date = f.as_of_date
)

select * from final
