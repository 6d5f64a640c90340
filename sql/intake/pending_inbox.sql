-- The inbox records not applied yet, oldest first, at most :max_rows of them (the next run takes the rest).
select
    kind,
    dedupe_key,
    received_at,
    payload
from ops.inbox
where applied_at is null
order by received_at, kind, dedupe_key
limit :max_rows
