-- scoring.keyed_events: refreshed for the batches of :pending_batches (pending_batches.sql: the run's own
-- batch, so a rerun re-keys it, and every batch of core.events not keyed yet; for a full rebuild, every
-- batch whose events changed since they were keyed). New leads and new (type, url, asset) triples get
-- their keys first; keys already given are kept. Run by `leadflow.pipeline.key_events`, in one
-- transaction, so scoring.keyed_events holds exactly the batches listed as keyed.
delete from scoring.keyed_event_batches where {{ m.in_text_list('_batch_id', ':pending_batches') }};

delete from scoring.keyed_events where {{ m.in_date_list('batch_date', ':pending_batches') }};

{% set pending = m.in_text_list('e._batch_id', ':pending_batches') -%}

-- every lead without a key yet: each lead of core.leads, and any lead only the pending events know
-- (scores must not depend on the CRM having sent it yet)
insert into scoring.lead_keys
with

new_leads as (
    select l.lead_id
    from core.leads as l
    where not exists (select 1 from scoring.lead_keys as k where k.lead_id = l.lead_id)
    union
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

-- the (type, url, asset) triples the pending events bring that have no id yet
insert into scoring.event_triples
with

batch_triples as (
    select distinct e.event_type, e.url, e.asset
    from core.events as e
    where {{ pending }}
),

new_triples as (
    select b.event_type, b.url, b.asset
    from batch_triples as b
    where not exists (
        select 1 from scoring.event_triples as t
        where
            t.event_type = b.event_type
            and {{ m.same_text('t.url', 'b.url') }}
            and {{ m.same_text('t.asset', 'b.asset') }}
    )
),

final as (
    select
        cast(
            coalesce((select max(triple_id) from scoring.event_triples), 0)
            + row_number() over (order by event_type, url, asset) as integer
        ) as triple_id,
        event_type,
        url,
        asset
    from new_triples
)

select * from final;

{{ m.analyze("scoring.lead_keys") }};

{{ m.analyze("scoring.event_triples") }};

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

select * from final;

insert into scoring.keyed_event_batches
with

final as (
    select
        e._batch_id,
        cast(count(*) as integer) as events,
        {{ m.keying_checksum('e.') }} as checksum
    from core.events as e
    where {{ pending }}
    group by e._batch_id
)

select * from final;

{{ m.analyze("scoring.keyed_events") }};
