-- scoring.event_triples: an id for every (type, url, asset) triple the events of :pending_batches bring;
-- ids already given are kept. Run by `leadflow.pipeline.key_events`
-- with the other keying models, in one transaction, after lead_keys.sql (with `leads`, the intraday step's
-- keying, the statistics are left as they are).
{% set pending = m.in_text_list('e._batch_id', ':pending_batches') -%}

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

{% if not (leads is defined and leads) %}{{ m.analyze("scoring.event_triples") }};{% endif %}
