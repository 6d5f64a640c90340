-- privacy.suppressions: keyed hash :key_hash (an erased person's address or CRM id) kept, once.
insert into privacy.suppressions (key_hash, kind, erasure_id, created_at)
select
    :key_hash as key_hash,
    :kind as kind,
    :erasure_id as erasure_id,
    :created_at as created_at
where not exists (select 1 from privacy.suppressions as s where s.key_hash = :key_hash)
