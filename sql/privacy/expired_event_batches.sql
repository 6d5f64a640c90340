-- The keyed batches (scoring.keyed_event_batches) holding events before :cutoff_date: their event count
-- and checksum are computed again once those events are gone (privacy.retention.events_days).
select distinct e._batch_id
from core.events as e
inner join scoring.keyed_event_batches as k on e._batch_id = k._batch_id
where e.event_date < cast(:cutoff_date as date)
