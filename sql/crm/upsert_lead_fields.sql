-- `table` (crm.lead_fields, the demo CRM, by default): insert or update the fields of the leads in _crm_changes.
insert into {{ table }} (
    crm_id, lead_score, lead_fit_grade, lead_stage, lead_score_reasons, lead_heating_up, lead_scored_at,
    lead_email_opt_out
)
select
    crm_id,
    lead_score,
    lead_fit_grade,
    lead_stage,
    lead_score_reasons,
    lead_heating_up,
    cast(:scored_at as timestamptz),
    lead_email_opt_out
from _crm_changes
on conflict (crm_id) do update set
    lead_score = excluded.lead_score,
    lead_fit_grade = excluded.lead_fit_grade,
    lead_stage = excluded.lead_stage,
    lead_score_reasons = excluded.lead_score_reasons,
    lead_heating_up = excluded.lead_heating_up,
    lead_scored_at = excluded.lead_scored_at,
    lead_email_opt_out = excluded.lead_email_opt_out;
