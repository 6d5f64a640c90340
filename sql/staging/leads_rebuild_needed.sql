-- whether core.leads must be rebuilt from every raw row rather than merged (see stg_leads.sql): some
-- lead's current record came from a batch not staged yet (its night runs again, or it was validated
-- again since), or from no known batch (staged before records kept their batch)
with

pending as (
    {{ m.pending_batches('raw.crm_leads', 'core.leads_batches') }}
),

final as (
    select count(*) > 0 as rebuild
    from core.leads as c
    where c._batch_id is null or c._batch_id in (select _batch_id from pending)
)

select rebuild from final
