-- crm.sync_failures: the leads in _crm_failed with their latest error; leads in _crm_written are cleared.
delete from crm.sync_failures
where crm_id in (select crm_id from _crm_written);

insert into crm.sync_failures (crm_id, error, as_of_date, failed_at, attempts)
select
    crm_id,
    error,
    cast(:as_of_date as date),
    cast(:synced_at as timestamptz),
    1
from _crm_failed
on conflict (crm_id) do update set
    error = excluded.error,
    as_of_date = excluded.as_of_date,
    failed_at = excluded.failed_at,
    attempts = crm.sync_failures.attempts + 1;
