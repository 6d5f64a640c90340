-- Every planned send in the ledger with the lead, latest score and stage its template needs.
with

planned as (
    select *
    from nurture.email_sends
    where status = 'planned'
),

latest_scores as (
    select s.*
    from scoring.lead_scores as s
    where s.as_of_date = (select max(as_of_date) from scoring.lead_scores)
),

download as (
    -- the download a follow-up email refers to (its date is in the send key)
    select
        e.lead_id,
        e.event_date,
        max(e.asset) as asset,
        max(e.url) as url
    from core.events as e
    where e.event_type in ('whitepaper_download', 'case_study_download')
    group by e.lead_id, e.event_date
),

final as (
    select
        p.send_key,
        p.lead_id,
        p.track,
        p.step,
        p.template,
        p.kind,
        p.locale,
        p.to_email,
        p.send_at,
        l.timezone,
        l.country,
        l.crm_id,
        l.email,
        l.first_name,
        l.last_name,
        l.company,
        l.job_title,
        l.industry,
        l.owner_email,
        s.total_score,
        s.fit_grade,
        s.top_reasons,
        st.stage,
        d.asset as event_asset,
        d.url as event_url
    from planned as p
    inner join core.leads as l on p.lead_id = l.lead_id
    left join latest_scores as s on p.lead_id = s.lead_id
    left join lifecycle.lead_stages as st on p.lead_id = st.lead_id
    left join download as d
        on p.track = 'download_followup' and p.lead_id = d.lead_id and p.as_of_date = d.event_date
)

select * from final
order by send_key;
