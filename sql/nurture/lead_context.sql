-- One lead (by lead_id or crm_id) with its latest score and stage, for template previews.
with

latest_scores as (
    select s.*
    from scoring.lead_scores as s
    where s.as_of_date = (select max(as_of_date) from scoring.lead_scores)
),

final as (
    select
        l.lead_id,
        l.crm_id,
        l.email,
        l.first_name,
        l.last_name,
        l.company,
        l.job_title,
        l.industry,
        l.locale,
        l.owner_email,
        s.total_score,
        s.fit_grade,
        s.top_reasons,
        st.stage,
        cast(null as text) as event_asset,
        cast(null as text) as event_url
    from core.leads as l
    left join latest_scores as s on l.lead_id = s.lead_id
    left join lifecycle.lead_stages as st on l.lead_id = st.lead_id
    where l.lead_id = :lead_id or l.crm_id = :lead_id
)

select * from final;
