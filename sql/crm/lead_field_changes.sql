-- The CRM fields each lead should show after :as_of_date, only where they differ from the last write.
-- With `leads` (the intraday step, docs/adr/0019): the leads rescored intraday on :as_of_date, from
-- their intraday scores (scoring.intraday_scores); every other lead waits for its night.
with

desired as (
    select
        l.crm_id,
        cast(round(s.total_score) as integer) as lead_score,
        s.fit_grade as lead_fit_grade,
        st.stage as lead_stage,
        s.top_reasons as lead_score_reasons,
        s.heating_up as lead_heating_up,
        -- the lead opted out by email (unsubscribe, group unsubscribe or spam report, from SendGrid or leadflow serve)
        exists (
            select 1
            from nurture.suppressions as x
            where x.email = l.email and x.kind in ('unsubscribe', 'group_unsubscribe', 'spam_report')
        ) as lead_email_opt_out
    from core.leads as l
    inner join {% if leads is defined and leads %}scoring.intraday_scores{% else %}scoring.lead_scores{% endif %} as s
        on l.lead_id = s.lead_id and s.as_of_date = cast(:as_of_date as date)
    inner join lifecycle.lead_stages as st on l.lead_id = st.lead_id
),

hashed as (
    select
        desired.*,
        md5(concat_ws(
            '|',
            cast(lead_score as varchar),
            lead_fit_grade,
            lead_stage,
            lead_score_reasons,
            cast(lead_heating_up as varchar),
            -- only an opt-out enters the hash (concat_ws skips nulls): the hash of every other lead stays as it was
            case when lead_email_opt_out then 'email_opt_out' end
        )) as fields_hash
    from desired
),

final as (
    select hashed.*
    from hashed
    left join crm.sync_state as ss on hashed.crm_id = ss.crm_id
    where ss.fields_hash is null or ss.fields_hash <> hashed.fields_hash
)

select * from final
order by crm_id;
