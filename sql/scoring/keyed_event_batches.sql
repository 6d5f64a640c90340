-- scoring.keyed_event_batches: the batches of :pending_batches, listed as keyed with their event count and
-- checksum (pending_batches.sql compares them). Run by `leadflow.pipeline.key_events`
-- with the other keying models, in one transaction, after keyed_events.sql.
delete from scoring.keyed_event_batches where {{ m.in_text_list('_batch_id', ':pending_batches') }};

{% set pending = m.in_text_list('e._batch_id', ':pending_batches') -%}

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
