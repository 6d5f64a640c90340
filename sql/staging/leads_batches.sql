-- core.leads_batches: the CRM batches merged into core.leads, listed after stg_leads.sql in the same
-- transaction (pipeline.stage_core), with the same `full` and `upto`: after a rebuild, every batch of
-- raw.crm_leads (up to :batch_id with `upto`); after a merge, the batches it took in.
{% set full = full is defined and full %}
{% set upto = upto is defined and upto %}
{% if full -%}
delete from core.leads_batches;

insert into core.leads_batches
select b._batch_id from ({{ m.distinct_values('raw.crm_leads', '_batch_id') }}) as b
{%- if upto %}
where b._batch_id <= :batch_id
{%- endif %};
{%- else -%}
insert into core.leads_batches
with

pending as (
    {{ m.pending_batches('raw.crm_leads', 'core.leads_batches') }}
)

select _batch_id from pending
{%- if upto %}
where _batch_id <= :batch_id
{%- endif %};
{%- endif %}
