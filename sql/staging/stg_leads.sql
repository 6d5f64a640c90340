-- core.leads: one row per CRM lead (latest record per crm_id wins), from every valid raw row.
delete from core.leads;

insert into core.leads
with

raw_rows as (
    select r.*
    from raw.crm_leads as r
    where not exists (
        select 1
        from ops.quarantine as q
        where q.source = 'crm' and q._file = r._file and q._row = r._row
    )
),

typed as (
    select
        {{ m.clean_text('crm_id') }} as crm_id,
        lower({{ m.clean_text('email') }}) as email,
        {{ m.clean_text('first_name') }} as first_name,
        {{ m.clean_text('last_name') }} as last_name,
        {{ m.clean_text('company') }} as company,
        lower({{ m.clean_text('industry') }}) as industry,
        cast(replace({{ m.clean_text('employee_count') }}, ',', '') as integer) as employee_count,
        {{ m.clean_text('job_title') }} as job_title,
        upper({{ m.clean_text('country') }}) as country,
        coalesce(lower({{ m.clean_text('locale') }}), 'en') as locale,
        coalesce({{ m.clean_text('timezone') }}, :default_timezone) as timezone,
        lower({{ m.clean_text('lead_source') }}) as lead_source,
        lower({{ m.clean_text('owner_email') }}) as owner_email,
        coalesce({{ m.to_bool('email_opt_in') }}, false) as email_opt_in,
        {{ m.to_bool('bant_budget') }} as bant_budget,
        {{ m.to_bool('bant_authority') }} as bant_authority,
        {{ m.to_bool('bant_need') }} as bant_need,
        {{ m.to_bool('bant_timeline') }} as bant_timeline,
        coalesce(lower({{ m.clean_text('crm_status') }}), 'new') as crm_status,
        cast({{ m.clean_text('created_at') }} as timestamptz) as created_at,
        cast({{ m.clean_text('updated_at') }} as timestamptz) as updated_at,
        _batch_id,
        _file,
        _row
    from raw_rows
),

ranked as (
    select
        typed.*,
        row_number() over (
            partition by crm_id
            order by updated_at desc nulls last, _batch_id desc, _file desc, _row desc
        ) as recency
    from typed
    where crm_id is not null
),

final as (
    select
        {{ m.hash_id('crm_id') }} as lead_id,
        crm_id,
        email,
        first_name,
        last_name,
        company,
        industry,
        employee_count,
        job_title,
        country,
        locale,
        timezone,
        lead_source,
        owner_email,
        email_opt_in,
        bant_budget,
        bant_authority,
        bant_need,
        bant_timeline,
        crm_status,
        created_at,
        updated_at
    from ranked
    where recency = 1
)

select * from final;

{{ m.analyze("core.leads") }};
