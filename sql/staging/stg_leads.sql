-- core.leads: one row per CRM lead, the latest valid raw record per crm_id (newest updated_at, then
-- the latest batch, file and row), with the batch, file and row it came from.
--
-- `full`: rebuilt from every valid raw row. Otherwise merged: every valid row of the batches not staged
-- yet (core.leads_batches) competes with the lead's current record, by the same order. The merge costs
-- one night's rows, not the whole history, and gives the full result as long as no current record
-- came from a batch not staged yet (a rerun: pipeline.stage_core checks, and rebuilds then).
--
-- staging/leads_batches.sql then lists the batches merged (core.leads_batches), in the same transaction.
--
-- `upto`: only the batches up to :batch_id count (the CRM as it stood that night): a rerun of an
-- earlier night rebuilds core.leads as of that night, and the later nights merge their batches again.
--
-- A lead deleted in the CRM (core.deleted_leads, staging/deleted_leads.sql: run before this model)
-- is left out: its raw rows are skipped, and the merge removes its record (docs/adr/0018).
{% set full = full is defined and full %}
{% set upto = upto is defined and upto %}
{% set pending -%}
pending as (
    {{ m.pending_batches('raw.crm_leads', 'core.leads_batches') }}
)
{%- endset %}

{% if full -%}
delete from core.leads;

insert into core.leads
{%- else -%}
create temporary table leads_staged as
{%- endif %}
with

{% if not full -%}
{{ pending }},

{% endif -%}
{% if not full -%}
batch_rows as materialized (
    -- the night's batches first: the checks below then read its rows, not every raw row (DuckDB
    -- otherwise applied the batch filter, a semi-join, after them: 3.1 of 7.5 s of a 1M-lead stage)
    select r.*
    from raw.crm_leads as r
    where
        r._batch_id in (select _batch_id from pending)
        {%- if upto %}
        and r._batch_id <= :batch_id
        {%- endif %}
),

{% endif -%}
raw_rows as (
    select r.*
    from {% if full %}raw.crm_leads{% else %}batch_rows{% endif %} as r
    where
        not exists (
            select 1
            from ops.quarantine as q
            where q.source = 'crm' and q._file = r._file and q._row = r._row
        )
        -- an erased person that a later export brings back is never a lead again (docs/adr/0014)
        and not {{ m.erased('lower(' ~ m.clean_text('r.email') ~ ')', m.clean_text('r.crm_id')) }}
        and not exists (
            select 1
            from core.deleted_leads as d
            where d.crm_id = {{ m.clean_text('r.crm_id') }}
        )
        {%- if full and upto %}
        and r._batch_id <= :batch_id
        {%- endif %}
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

candidates as (
    select * from typed
    where crm_id is not null
    {%- if not full %}

    union all

    -- the current record of every lead the new rows touch
    select
        c.crm_id, c.email, c.first_name, c.last_name, c.company, c.industry, c.employee_count, c.job_title,
        c.country, c.locale, c.timezone, c.lead_source, c.owner_email, c.email_opt_in, c.bant_budget,
        c.bant_authority, c.bant_need, c.bant_timeline, c.crm_status, c.created_at, c.updated_at,
        c._batch_id, c._file, c._row
    from core.leads as c
    where c.crm_id in (select typed.crm_id from typed)
    {%- endif %}
),

ranked as (
    select
        candidates.*,
        row_number() over (
            partition by crm_id
            order by updated_at desc nulls last, _batch_id desc, _file desc, _row desc
        ) as recency
    from candidates
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
        updated_at,
        _batch_id,
        _file,
        _row
    from ranked
    where recency = 1
)

select * from final;

{% if not full -%}
-- the leads whose record changes (a lead whose current record won again keeps its row)
delete from leads_staged
where exists (
    select 1 from core.leads as c
    where
        c.crm_id = leads_staged.crm_id
        and c._batch_id = leads_staged._batch_id
        and c._file = leads_staged._file
        and c._row = leads_staged._row
);

delete from core.leads where crm_id in (select crm_id from leads_staged);

-- the leads a reconciliation merged tonight did not have
delete from core.leads where crm_id in (select d.crm_id from core.deleted_leads as d);

-- the same columns by construction
-- noqa: disable=AM04
insert into core.leads select * from leads_staged;
-- noqa: enable=AM04

drop table leads_staged;
{%- endif %}

{{ m.analyze("core.leads") }};
