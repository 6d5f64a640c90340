-- The identities of the people being erased: each (crm_id, email, lead_id, spelled) the warehouse holds
-- whose cleaned address or CRM id has a keyed hash (m.hmac_hex) among :key_hashes (`suppressed`: among
-- privacy.suppressions, the nightly re-check), or whose address, CRM id or lead id is known already
-- (:emails, :crm_ids, :lead_ids). leadflow.privacy.erase repeats it until nothing new turns up, so the
-- address a person had before a change in the CRM is found with the one they have now. `spelled` is
-- the address as the source wrote it (free text such as GX samples keeps that spelling).
{% set suppressed = suppressed is defined and suppressed -%}
{% macro hashed(value) -%}
{%- if suppressed -%}
{{ m.hmac_hex(value) }} in (select s.key_hash from privacy.suppressions as s)
{%- else -%}
{{ m.in_text_list(m.hmac_hex(value), ':key_hashes') }}
{%- endif -%}
{%- endmacro %}
with

sourced as (
    select
        {{ m.clean_text('crm_id') }} as crm_id,
        {{ m.clean_text('email') }} as spelled
    from raw.crm_leads
    union all
    select
        {{ m.clean_text('crm_id') }} as crm_id,
        {{ m.clean_text('email') }} as spelled
    from raw.web_events
    union all
    select
        {{ m.clean_text('crm_id') }} as crm_id,
        {{ m.clean_text('email') }} as spelled
    from ops.held_events
),

people as (
    select
        crm_id,
        lower(spelled) as email,
        case when crm_id is not null then {{ m.hash_id('crm_id') }} end as lead_id,
        spelled
    from sourced
    union all
    select
        crm_id,
        email,
        lead_id,
        email as spelled
    from core.leads
    union all
    select
        null as crm_id,
        to_email as email,
        lead_id,
        to_email as spelled
    from nurture.email_sends
    union all
    select
        null as crm_id,
        email,
        null as lead_id,
        email as spelled
    from nurture.suppressions
),

final as (
    select distinct
        crm_id,
        email,
        lead_id,
        spelled
    from people
    where
        {{ hashed('email') }}
        or {{ hashed('crm_id') }}
        or {{ m.in_text_list('email', ':emails') }}
        or {{ m.in_text_list('crm_id', ':crm_ids') }}
        or {{ m.in_text_list('lead_id', ':lead_ids') }}
)

select * from final
