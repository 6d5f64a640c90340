-- The rows of `table` past their retention period (privacy.retention, leadflow.privacy.retention):
-- deleted, one returned row per row gone. Cut-offs arrive as binds: :cutoff_batch (a batch id, an ISO
-- date), :cutoff_date and :cutoff_at (the start of that day), each `table` with its own period.
{% set predicates = {
    'raw.web_events': "_batch_id < :cutoff_batch",
    'ops.held_events': "due_date < cast(:cutoff_date as date)",
    'ops.quarantine': "(source in ('crm', 'web') and batch_id < :cutoff_batch)"
        ~ " or (source not in ('crm', 'web') and quarantined_at < cast(:cutoff_at as timestamptz))",
    'ops.inbox': "applied_at is not null and received_at < cast(:cutoff_at as timestamptz)",
    'scoring.keyed_events': "event_date < cast(:cutoff_date as date)",
    'core.events': "event_date < cast(:cutoff_date as date)",
    'scoring.score_factors': "as_of_date < cast(:cutoff_date as date)",
    'scoring.lead_scores': "as_of_date < cast(:cutoff_date as date)",
    'nurture.email_sends': "as_of_date < cast(:cutoff_date as date)"
        ~ " and status not in ('planned', 'claimed')"
        ~ " and not exists (select 1 from nurture.enrollments as n where n.lead_id = nurture.email_sends.lead_id"
        ~ " and n.track = nurture.email_sends.track and n.enrolled_on = nurture.email_sends.enrolled_on"
        ~ " and (n.exited_on is null or n.exited_on >= cast(:cutoff_date as date)))",
    'nurture.enrollments': "exited_on < cast(:cutoff_date as date)",
    'ops.validation_results': "recorded_at < cast(:cutoff_at as timestamptz)"
        ~ " and batch_id <> (select max(v.batch_id) from ops.validation_results as v"
        ~ " where v.validation = ops.validation_results.validation)",
} -%}
delete from {{ table }}
where {{ predicates[table] }}
returning 1
