-- crm.sync_state: remember what was written for the leads in _crm_written (one row per crm_id).
insert into crm.sync_state (crm_id, fields_hash, as_of_date, synced_at)
select
    crm_id,
    fields_hash,
    cast(:as_of_date as date),
    cast(:synced_at as timestamptz)
from _crm_written
on conflict (crm_id) do update set
    fields_hash = excluded.fields_hash,
    as_of_date = excluded.as_of_date,
    synced_at = excluded.synced_at;
