-- The keyed batches (scoring.keyed_event_batches) holding events of the people being erased: their
-- event count and checksum are computed again once those events are gone.
select distinct e._batch_id
from core.events as e
inner join scoring.keyed_event_batches as k on e._batch_id = k._batch_id
where {{ m.in_text_list('e.lead_id', ':lead_ids') }}
