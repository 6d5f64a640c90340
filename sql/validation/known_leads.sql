-- every crm_id and email an event of batch :batch_id can resolve to: core.leads and the raw CRM rows of this batch.
with

core_leads as (
    select
        crm_id,
        email
    from core.leads
),

batch_leads as (
    select
        {{ m.clean_text('crm_id') }} as crm_id,
        lower({{ m.clean_text('email') }}) as email
    from raw.crm_leads
    where _batch_id = :batch_id
),

final as (
    select * from core_leads
    union
    select * from batch_leads
)

select * from final
