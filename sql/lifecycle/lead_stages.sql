-- lifecycle.lead_stages: one row per lead, its stage as of the latest transition up to :as_of_date; a
-- lead deleted in the CRM (core.deleted_leads) has none (its transitions stay as history).
delete from lifecycle.lead_stages;

insert into lifecycle.lead_stages
with

ranked as (
    select
        t.*,
        row_number() over (partition by lead_id order by as_of_date desc) as recency
    from lifecycle.stage_transitions as t
    where as_of_date <= cast(:as_of_date as date)
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
