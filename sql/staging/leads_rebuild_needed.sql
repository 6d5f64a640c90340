-- whether core.leads must be rebuilt from every raw row rather than merged (see stg_leads.sql): some
-- lead's current record came from a batch not staged yet (its night runs again, or it was validated
-- again since), or from no known batch (staged before records kept their batch); or a batch not staged
-- yet has a lead deleted in the CRM again (restored: its record is rebuilt from every raw row of it)
with

pending as (
    {{ m.pending_batches('raw.crm_leads', 'core.leads_batches') }}
),

from_pending as (
    select count(*) > 0 as rebuild
    from core.leads as c
    where c._batch_id is null or c._batch_id in (select _batch_id from pending)
),

restored as (
    select count(*) > 0 as rebuild
    from core.deleted_leads as d
    where exists (
        select 1
        from raw.crm_leads as r
        where
            r._batch_id in (select _batch_id from pending)
            and {{ m.clean_text('r.crm_id') }} = d.crm_id
    )
),

final as (
    select f.rebuild or r.rebuild as rebuild
    from from_pending as f
    cross join restored as r
)

select rebuild from final
