-- Leads per stage on :as_of by channel (lead_source), industry and fit grade: one row per dimension, value
-- and stage, with the number of leads (a missing value counted as '(none)').
with

{{ m.stage_on('night', 'cast(:as_of as date)') }},

leads as (
    select
        l.lead_id,
        coalesce(l.lead_source, '(none)') as lead_source,
        coalesce(l.industry, '(none)') as industry,
        coalesce(s.fit_grade, '(none)') as fit_grade,
        st.stage
    from core.leads as l
    inner join stage_on_night as st on l.lead_id = st.lead_id
    left join scoring.lead_scores as s on l.lead_id = s.lead_id and s.as_of_date = cast(:as_of as date)
),

final as (
    select 'lead_source' as dimension, lead_source as value, stage, count(*) as leads
    from leads
    group by lead_source, stage
    union all
    select 'industry' as dimension, industry as value, stage, count(*) as leads
    from leads
    group by industry, stage
    union all
    select 'fit_grade' as dimension, fit_grade as value, stage, count(*) as leads
    from leads
    group by fit_grade, stage
)

select * from final
order by dimension, value, stage
