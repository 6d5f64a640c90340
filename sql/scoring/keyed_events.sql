-- scoring.keyed_events: every event of core.events as integers, refreshed for the batches of
-- :pending_batches (pending_batches.sql: the run's own batch, so a rerun re-keys it, and every batch of
-- core.events not keyed yet; for a full rebuild, every batch whose events changed since they were keyed).
-- New leads and triples got their keys just before (lead_keys.sql, event_triples.sql), and
-- keyed_event_batches.sql lists the batches after, all in one transaction (`leadflow.pipeline.key_events`),
-- so scoring.keyed_events holds exactly the batches listed as keyed. With `leads` (the intraday step keying
-- today's batch, docs/adr/0019) the statistics are left as they are.
delete from scoring.keyed_events where {{ m.in_date_list('batch_date', ':pending_batches') }};

{% set pending = m.in_text_list('e._batch_id', ':pending_batches') -%}

insert into scoring.keyed_events
with

lead_keyed as (
    select
        k.lead_key,
        e._batch_id,
        e.event_date,
        e.event_type,
        e.url,
        e.asset
    from core.events as e
    inner join scoring.lead_keys as k on e.lead_id = k.lead_id
    where {{ pending }}
    -- a fence: PostgreSQL cannot estimate the three-expression triple join below (it expects ~500
    -- rows of millions) and would then look every event's lead up through the index one at a time
    {{ m.fence() }}
),

final as (
    select
        cast(e._batch_id as date) as batch_date,
        e.lead_key,
        e.event_date,
        t.triple_id
    from lead_keyed as e
    inner join scoring.event_triples as t
        on
            e.event_type = t.event_type
            -- a missing url or asset joins as its own key
            and {{ m.same_text('e.url', 't.url') }}
            and {{ m.same_text('e.asset', 't.asset') }}
)

select * from final
{{ m.postgres_order_by('event_date') }};

{% if not (leads is defined and leads) -%}
{{ m.analyze("scoring.keyed_events") }};
{{ m.brin_summarize('scoring.keyed_events_batch_brin') }}
{{ m.brin_summarize('scoring.keyed_events_day_brin') }}
{%- endif %}
