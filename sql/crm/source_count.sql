-- How many leads the CRM table holds as of :until (those changed later are not counted; one without an
-- updated_at is): the raw gate's volume on a night that pulls only the leads changed since its mark.
-- `table` and `updated_at` (their quoted column) are validated identifiers, never values.
with

final as (
    select count(*) as leads
    from {{ table }}
    where {{ updated_at }} < cast(:until as timestamptz) or {{ updated_at }} is null
)

select leads from final
