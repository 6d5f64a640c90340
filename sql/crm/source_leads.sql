-- One row per lead of the CRM table whose updated_at is in [:since, :until), in our column names, and
-- every lead without an updated_at (landed, so the raw gate quarantines it with its reason).
-- `table` and `columns` (ours -> their quoted column, or none) are validated identifiers, never values.
with

source as (
    select
        {%- for ours, theirs in columns %}
        {% if theirs is none -%}
        cast(null as varchar) as {{ ours }}
        {%- elif ours in ('created_at', 'updated_at') -%}
        cast({{ theirs }} as timestamptz) as {{ ours }}
        {%- else -%}
        {{ theirs }} as {{ ours }}
        {%- endif %}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ table }}
),

final as (
    select source.*
    from source
    where
        (
            source.updated_at >= cast(:since as timestamptz)
            and source.updated_at < cast(:until as timestamptz)
        )
        or source.updated_at is null
)

select * from final
order by updated_at, crm_id
