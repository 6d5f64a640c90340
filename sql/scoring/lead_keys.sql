-- scoring.lead_keys: a key for every lead of core.leads and any lead only the events of :pending_batches
-- know; keys already given are kept. Run by `leadflow.pipeline.key_events`
-- with the other keying models, in one transaction (lead_keys, event_triples, keyed_events,
-- keyed_event_batches).
-- With `leads` (the intraday step keying today's batch, docs/adr/0019), only the leads its events know:
-- every lead of core.leads got its key at its night, and the statistics are left as they are.
{% set pending = m.in_text_list('e._batch_id', ':pending_batches') -%}

-- every lead without a key yet: each lead of core.leads, and any lead only the pending events know
-- (scores must not depend on the CRM having sent it yet)
insert into scoring.lead_keys
with

new_leads as (
    {%- if not (leads is defined and leads) %}
    select l.lead_id
    from core.leads as l
    where not exists (select 1 from scoring.lead_keys as k where k.lead_id = l.lead_id)
    union
    {%- endif %}
    select e.lead_id
    from core.events as e
    where
        {{ pending }}
        and not exists (select 1 from scoring.lead_keys as k where k.lead_id = e.lead_id)
),

final as (
    select
        cast(coalesce((select max(lead_key) from scoring.lead_keys), 0) + row_number() over (order by lead_id) as integer)
            as lead_key,
        lead_id
    from new_leads
)

select * from final;

{% if not (leads is defined and leads) %}{{ m.analyze("scoring.lead_keys") }};{% endif %}
