-- The rows of `table` that belong to the people being erased, deleted (returning one row per row gone,
-- so leadflow.privacy.erase counts them per table); with `action` 'select', the rows themselves
-- (leadflow.privacy.export). The people are known by their cleaned addresses
-- (:emails), CRM ids (:crm_ids), lead ids (:lead_ids) and send keys (:send_keys); tables that keep a
-- record as free JSON text (ops.quarantine, ops.inbox) are matched on any of those values as a quoted
-- JSON string (:quoted, lower case), whatever field holds it.
{% set email_or_crm_id -%}
lower({{ m.clean_text('email') }}) in (select unnest({{ m.text_list(':emails') }}))
    or {{ m.clean_text('crm_id') }} in (select unnest({{ m.text_list(':crm_ids') }}))
{%- endset %}
{% set by_lead = m.in_text_list('lead_id', ':lead_ids') %}
{% set by_crm_id = m.in_text_list('crm_id', ':crm_ids') %}
{% macro quoted_in(column) -%}
exists (select 1 from unnest({{ m.text_list(':quoted') }}) as v (value) where strpos(lower({{ column }}), v.value) > 0)
{%- endmacro %}
{% set predicates = {
    'raw.crm_leads': email_or_crm_id,
    'raw.web_events': email_or_crm_id,
    'ops.held_events': email_or_crm_id,
    'ops.quarantine': quoted_in('record'),
    'ops.inbox': quoted_in('payload') ~ ' or ' ~ m.in_text_list('dedupe_key', ':lead_ids'),
    'ops.inbox_events': 'event_id in (select e.event_id from core.events as e where ' ~ m.in_text_list('e.lead_id', ':lead_ids') ~ ')',
    'core.leads': by_lead ~ ' or ' ~ by_crm_id ~ ' or ' ~ m.in_text_list('email', ':emails'),
    'core.deleted_leads': by_lead ~ ' or ' ~ by_crm_id,
    'core.events': by_lead,
    'scoring.keyed_events': 'lead_key in (select k.lead_key from scoring.lead_keys as k where ' ~ m.in_text_list('k.lead_id', ':lead_ids') ~ ')',
    'scoring.rule_state': 'lead_key in (select k.lead_key from scoring.lead_keys as k where ' ~ m.in_text_list('k.lead_id', ':lead_ids') ~ ')',
    'scoring.lead_activity': 'lead_key in (select k.lead_key from scoring.lead_keys as k where ' ~ m.in_text_list('k.lead_id', ':lead_ids') ~ ')',
    'scoring.lead_keys': by_lead,
    'scoring.score_factors': by_lead,
    'scoring.lead_scores': by_lead,
    'lifecycle.lead_stages': by_lead,
    'lifecycle.stage_transitions': by_lead,
    'nurture.enrollments': by_lead,
    'nurture.email_sends': by_lead ~ ' or ' ~ m.in_text_list('to_email', ':emails') ~ ' or ' ~ m.in_text_list('send_key', ':send_keys'),
    'nurture.suppressions': m.in_text_list('email', ':emails'),
    'crm.sync_state': by_crm_id,
    'crm.sync_failures': by_crm_id,
    'sink': by_crm_id,
} -%}
{% if action is defined and action == 'select' -%}
select * from {{ sink if table == 'sink' else table }}
where {{ predicates[table] }}
{%- else -%}
delete from {{ sink if table == 'sink' else table }}
where {{ predicates[table] }}
returning 1
{%- endif %}
