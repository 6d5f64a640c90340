-- core.deleted_leads: the leads deleted in the CRM as of :batch_id (docs/adr/0018), each with the latest
-- reconciliation batch up to :batch_id (a full snapshot, ops.crm_extracts) that did not have it: every
-- lead known before that batch that no raw row of it or of a later batch up to :batch_id carries.
--
-- Run by pipeline.stage_core before stg_leads.sql (which leaves these leads out of core.leads), when a
-- reconciliation batch is merged or core.leads is rebuilt. `full` (a rebuild): the leads known are those
-- of the valid raw rows before the reconciliation. Otherwise (a merge) they are core.leads and
-- core.deleted_leads as they stand, the CRM as of the night staged before: the same leads, without
-- reading every raw row.
{% set full = full is defined and full %}
create temporary table deleted_now as
with

reconciliation as (
    select max(batch_id) as batch_id
    from ops.crm_extracts
    where full_snapshot and batch_id <= :batch_id
),

present as (
    -- every crm_id the reconciliation and the later batches carry, valid or not (a lead whose row was
    -- quarantined is still in the CRM)
    select distinct {{ m.clean_text('r.crm_id') }} as crm_id
    from raw.crm_leads as r
    where
        r._batch_id >= (select rc.batch_id from reconciliation as rc)
        and r._batch_id <= :batch_id
),

known as (
    {%- if full %}
    select distinct {{ m.clean_text('r.crm_id') }} as crm_id
    from raw.crm_leads as r
    where
        r._batch_id < (select rc.batch_id from reconciliation as rc)
        and {{ m.clean_text('r.crm_id') }} is not null
        and not exists (
            select 1
            from ops.quarantine as q
            where q.source = 'crm' and q._file = r._file and q._row = r._row
        )
        and not {{ m.erased('lower(' ~ m.clean_text('r.email') ~ ')', m.clean_text('r.crm_id')) }}
    {%- else %}
    select l.crm_id from core.leads as l
    union
    select d.crm_id from core.deleted_leads as d
    {%- endif %}
),

final as (
    select
        {{ m.hash_id('k.crm_id') }} as lead_id,
        k.crm_id,
        rc.batch_id as deleted_batch
    from known as k
    cross join reconciliation as rc
    where
        rc.batch_id is not null
        and not exists (select 1 from present as p where p.crm_id = k.crm_id)
)

select * from final;

delete from core.deleted_leads;

-- the same columns by construction
-- noqa: disable=AM04
insert into core.deleted_leads select * from deleted_now;
-- noqa: enable=AM04

drop table deleted_now;
