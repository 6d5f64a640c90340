-- ops.erasures: the audit record of erasure :erasure_id (a request applied again replaces its record).
delete from ops.erasures where erasure_id = :erasure_id;

insert into ops.erasures (erasure_id, key_hash, key_kind, reason, source, requested_at, applied_at, counts)
values (:erasure_id, :key_hash, :key_kind, :reason, :source, :requested_at, :applied_at, :counts);
