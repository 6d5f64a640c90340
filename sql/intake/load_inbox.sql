-- ops.inbox: the records staged in _inbox_load, each (kind, dedupe_key) kept once (first delivery wins).
insert into ops.inbox (kind, dedupe_key, received_at, payload, loaded_at)
with

staged as (
    select
        kind,
        dedupe_key,
        cast(received_at as timestamptz) as received_at,
        payload,
        row_number() over (partition by kind, dedupe_key order by received_at, payload) as copy_no
    from _inbox_load
),

final as (
    select
        s.kind,
        s.dedupe_key,
        s.received_at,
        s.payload,
        cast(:loaded_at as timestamptz) as loaded_at
    from staged as s
    where s.copy_no = 1
)

select * from final
on conflict (kind, dedupe_key) do nothing
