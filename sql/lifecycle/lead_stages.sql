-- lifecycle.lead_stages: one row per lead, its stage as of the latest transition up to :as_of_date; a
-- lead deleted in the CRM (core.deleted_leads) has none (its transitions stay as history).
-- With `leads` (the intraday step, docs/adr/0019): the rows of the leads of scoring.intraday_leads only.
{% set only_leads = leads is defined and leads -%}
delete from lifecycle.lead_stages{% if only_leads %} where {{ m.intraday_lead('lead_id', 'lead_id') }}{% endif %};

insert into lifecycle.lead_stages
with

ranked as (
    select
        t.*,
        row_number() over (partition by lead_id order by as_of_date desc) as recency
    from lifecycle.stage_transitions as t
    where
        as_of_date <= cast(:as_of_date as date)
        {%- if only_leads %}
        and {{ m.intraday_lead('lead_id', 'lead_id') }}
        {%- endif %}
),

final as (
    select
        lead_id,
        to_stage as stage,
        as_of_date as entered_on,
        cast(:as_of_date as date) as as_of_date,
        reason,
        rules_version
    from ranked
    where
        recency = 1
        and not exists (select 1 from core.deleted_leads as d where d.lead_id = ranked.lead_id)
)

select * from final;
