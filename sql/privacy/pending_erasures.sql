-- The erasure requests of ops.inbox not applied yet, oldest first (only a keyed hash in each payload).
select
    dedupe_key,
    payload
from ops.inbox
where kind = :kind and applied_at is null
order by received_at, dedupe_key
